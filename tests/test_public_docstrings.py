"""Every name the docs site's API reference shows has a docstring: the pages come from the code, never a copy.

The targets are the `::: hub.module` (or `::: hub.module.Name`) lines of docs/reference/*.md, read the way
mkdocstrings reads them (griffe, static analysis: nothing is imported). For a module, each name of its
`__all__` must have a non-empty docstring, and so must each public method and property of the public classes
among them (their own, not what they inherit from pydantic's BaseModel or the standard library). Fields and
enum members are not required: the pages show them with their types.
"""

from __future__ import annotations

import re
from pathlib import Path

import griffe
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs" / "reference").glob("*.md"))
TARGETS = sorted({m.group(1) for page in PAGES
                  for m in re.finditer(r"^::: ([\w.]+)\s*$", page.read_text(encoding="utf-8"), re.M)})


def _documented(obj: griffe.Object | griffe.Alias) -> bool:
    return bool(obj.docstring and obj.docstring.value.strip())


def _target(obj: griffe.Object | griffe.Alias) -> griffe.Object:
    return obj.final_target if isinstance(obj, griffe.Alias) else obj


@pytest.fixture(scope="module")
def loader() -> griffe.GriffeLoader:
    loader = griffe.GriffeLoader(search_paths=[str(ROOT)])
    loader.load("hub")  # the package and its submodules, as mkdocstrings loads them
    loader.resolve_aliases(implicit=False, external=False)
    return loader


def missing_docstrings(loader: griffe.GriffeLoader, target: str) -> list[str]:
    obj = _target(loader.modules_collection[target])
    if obj.is_module:
        assert obj.exports, f"{target} has no __all__: say which names are public"
        names = [str(n) for n in obj.exports]
        members = [(f"{target}.{n}", _target(obj[n])) for n in names]
    else:
        members = [(target, obj)]
    missing = [path for path, member in members if not _documented(member)]
    for path, member in members:
        if not member.is_class:
            continue
        for name, child in member.members.items():
            if name.startswith("_") or isinstance(child, griffe.Alias):
                continue
            if (child.is_function or "property" in child.labels) and not _documented(child):
                missing.append(f"{path}.{name}")
    return missing


def test_the_reference_pages_document_the_plugin_facing_modules() -> None:
    for module in ("hub.context", "hub.events", "hub.sources", "hub.errors", "hub.api", "hub.sandbox",
                   "hub.testing", "hub.privacy.share.DataUse"):
        assert module in TARGETS, f"no docs/reference page shows {module}"


@pytest.mark.parametrize("target", TARGETS)
def test_every_public_name_has_a_docstring(loader: griffe.GriffeLoader, target: str) -> None:
    missing = missing_docstrings(loader, target)
    assert not missing, (f"public names without a docstring (the docs site shows them; say in one line what "
                         f"each is for): {', '.join(missing)}")
