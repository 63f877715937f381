"""`spreadsheets.batchUpdate` bodies checked against the discovery document shipped with
google-api-python-client (googleapiclient/discovery_cache/documents/sheets.v4.json), as Google checks them:
an unknown request kind or field, a bad enum value or an unknown field-mask path is a 400 INVALID_ARGUMENT
and none of the requests is applied. Google parses the JSON into protocol buffers, so its messages name
fields in snake_case ("Invalid JSON payload received. Unknown name \"foo\" at 'requests[0].repeat_cell':
Cannot find field."; https://cloud.google.com/apis/design/errors lists BadRequest.fieldViolations). The
document is read once, on the first check.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from hub_gsheets.sandbox_model import ApiError, error_body

BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
MASK_ROOTS = {"updateCells": "CellData"}
"""Requests whose `fields` mask is rooted at a schema other than their one non-range object field."""
RANGES = {"GridRange", "DimensionRange"}


@functools.cache
def _document() -> dict[str, Any]:
    import googleapiclient

    path = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "sheets.v4.json"
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def schemas() -> dict[str, Any]:
    return dict(_document()["schemas"])


def method_scopes(method: str) -> set[str]:
    """The OAuth scopes any one of which lets a token call `method` ("values.batchClear"), as the document
    lists them: reads also take the read-only scopes, writes only spreadsheets, drive or drive.file."""
    resource: dict[str, Any] = _document()["resources"]["spreadsheets"]
    *path, name = method.split(".")
    for part in path[1:] if path and path[0] == "spreadsheets" else path:
        resource = resource["resources"][part]
    return set(resource["methods"][name].get("scopes", []))


def check_body(body: Any, schema: str) -> None:
    """Raise Google's 400 for a request body that does not parse as `schema` (an unknown field, a bad enum)."""
    _check(body, {"$ref": schema}, "")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _refused(message: str, where: str) -> ApiError:
    return ApiError(400, "", "", error_body(400, "INVALID_ARGUMENT", message, [
        {"@type": BAD_REQUEST, "fieldViolations": [{"field": where, "description": message}]}]))


def check_batch_update(body: Any) -> None:
    """Raise Google's 400 for the first thing in a BatchUpdateSpreadsheetRequest Google would refuse."""
    _check(body, {"$ref": "BatchUpdateSpreadsheetRequest"}, "")
    for i, request in enumerate(body.get("requests", []) if isinstance(body, dict) else []):
        if isinstance(request, dict) and len(request) != 1:
            kinds = ", ".join(sorted(request))
            raise _refused(f"Invalid requests[{i}]: exactly one kind of request is allowed, got {kinds}",
                           f"requests[{i}]")
        for kind, spec in request.items():
            if isinstance(spec, dict) and isinstance(spec.get("fields"), str):
                _check_mask(spec["fields"], _mask_root(kind), f"requests[{i}].{kind}")


def _check(value: Any, spec: dict[str, Any], where: str) -> None:
    if "$ref" in spec:
        spec = schemas()[spec["$ref"]]
    kind = spec.get("type")
    if kind == "object" and "properties" in spec:
        if not isinstance(value, dict):
            raise _refused(f"Invalid value at '{where}' ({spec.get('id', 'object')}), {json.dumps(value)}", where)
        for name, item in value.items():
            known = spec["properties"].get(name)
            path = f"{where}.{_snake(name)}" if where else _snake(name)
            if known is None:
                raise _refused(f"Invalid JSON payload received. Unknown name \"{name}\" at '{where}': "
                               "Cannot find field." if where else
                               f"Invalid JSON payload received. Unknown name \"{name}\": Cannot find field.", path)
            _check(item, known, path)
    elif kind == "array" and isinstance(value, list):
        for i, item in enumerate(value):
            _check(item, spec.get("items", {}), f"{where}[{i}]")
    elif "enum" in spec and value not in spec["enum"]:
        owner = spec.get("id") or "enum"
        raise _refused(f"Invalid value at '{where}' (type.googleapis.com/google.apps.sheets.v4.{owner}), "
                       f"{json.dumps(value)}", where)


def _mask_root(kind: str) -> str | None:
    request = schemas()["Request"]["properties"].get(kind, {}).get("$ref")
    if kind in MASK_ROOTS:
        return MASK_ROOTS[kind]
    refs = [p["$ref"] for p in schemas().get(request or "", {}).get("properties", {}).values()
            if "$ref" in p and p["$ref"] not in RANGES]
    return refs[0] if len(refs) == 1 else None


def _mask_paths(mask: str) -> list[str]:
    """'a.b,c(d,e)' -> ['a.b', 'c.d', 'c.e'] (FieldMask's JSON form, with the sub-selection shorthand)."""
    out: list[str] = []
    depth, start = 0, 0
    parts: list[str] = []
    for i, char in enumerate(mask + ","):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(mask[start:i].strip())
            start = i + 1
    for part in filter(None, parts):
        if "(" in part and part.endswith(")"):
            head, inner = part[:-1].split("(", 1)
            out += [f"{head}.{p}" for p in _mask_paths(inner)]
        else:
            out.append(part)
    return out


def _check_mask(mask: str, root: str | None, where: str) -> None:
    if root is None or mask.strip() == "*":
        return
    for path in _mask_paths(mask):
        schema: dict[str, Any] | None = schemas()[root]
        for name in path.split("."):
            props = (schema or {}).get("properties")
            if props is None:  # a leaf (or a map): nothing deeper to check
                break
            field = props.get(name)
            if field is None:
                raise _refused(f"Invalid {where}: Invalid field mask path \"{path}\": no field \"{name}\" in "
                               f"{(schema or {}).get('id', root)}", f"{where}.fields")
            target = field.get("$ref") or field.get("items", {}).get("$ref")
            schema = schemas().get(target) if target else None
