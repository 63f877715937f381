"""A Google API service object built once, from a trimmed copy of the discovery document shipped with the library.

google-api-python-client builds each resource (`service.spreadsheets()`) on every call, writing a docstring per
method that pretty-prints its request and response schemas: for Sheets that is ~0.5 s of CPU and a ~130 MB
transient peak per call, which made an idle daemon polling a sheet every few seconds burn CPU and swing its
resident memory by hundreds of MB. Here the document keeps only the methods a connector calls, with bodies and
answers described as plain objects (the library never validates them against the schemas, it only serialises
JSON), and each resource is built once: a client object then costs a few milliseconds and a few hundred kB.

Like the library's objects these are not thread-safe (httplib2); one client per lane (branch, plugin) is used by
that lane's worker thread only.
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

__all__ = ["lean_document", "lean_service"]

_OBJECT = {"$ref": "LeanObject"}
_SCHEMAS = {"LeanObject": {"id": "LeanObject", "type": "object", "additionalProperties": {"type": "any"}}}


@functools.lru_cache(maxsize=8)
def _static_document(api: str, version: str) -> str:
    from googleapiclient.discovery_cache import get_static_doc

    text = get_static_doc(api, version)
    if text is None:
        raise RuntimeError(f"no discovery document for {api} {version} in google-api-python-client")
    return text


def lean_document(api: str, version: str, methods: frozenset[str]) -> dict[str, Any]:
    """The shipped document with only `methods` ("spreadsheets.values.batchGet"...) and a single object schema."""
    full = json.loads(_static_document(api, version))
    lean = {k: v for k, v in full.items() if k not in ("resources", "methods", "schemas")}
    lean["schemas"] = copy.deepcopy(_SCHEMAS)
    lean["resources"] = _keep(full.get("resources", {}), methods, "")
    missing = methods - set(_paths(lean["resources"], ""))
    if missing:
        raise RuntimeError(f"{api} {version} has no method {sorted(missing)}")
    return lean


def _keep(resources: dict[str, Any], methods: frozenset[str], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, resource in resources.items():
        path = f"{prefix}{name}."
        kept = {m: _plain(d) for m, d in resource.get("methods", {}).items() if path + m in methods}
        nested = _keep(resource.get("resources", {}), methods, path)
        if kept or nested:
            out[name] = {"methods": kept, "resources": nested}
    return out


def _plain(method: dict[str, Any]) -> dict[str, Any]:
    method = {k: v for k, v in method.items() if k not in ("request", "response", "description")}
    return {**method, "request": _OBJECT, "response": _OBJECT} if "httpMethod" in method else method


def _paths(resources: dict[str, Any], prefix: str) -> list[str]:
    out: list[str] = []
    for name, resource in resources.items():
        out += [f"{prefix}{name}.{m}" for m in resource.get("methods", {})]
        out += _paths(resource.get("resources", {}), f"{prefix}{name}.")
    return out


def lean_service(api: str, version: str, methods: frozenset[str], *, credentials: Any = None, http: Any = None,
                 api_endpoint: str | None = None) -> Any:
    """`googleapiclient.discovery.build` on the lean document (no network: the document ships with the library)."""
    from googleapiclient.discovery import build_from_document

    options = {"api_endpoint": api_endpoint.rstrip("/") + "/"} if api_endpoint else None
    return build_from_document(lean_document(api, version, methods), credentials=credentials, http=http,
                               client_options=options)
