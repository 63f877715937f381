from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hub.app import Hub
from hub.testing import RecordingSink


@pytest.fixture
def sinks(register_plugin: Callable[[str, object], object]) -> dict[str, RecordingSink]:
    """Two recording sinks, 'alpha' and 'beta', registered for the test."""
    made = {name: RecordingSink() for name in ("alpha", "beta")}
    for name, sink in made.items():
        register_plugin(name, sink)
    return made


@pytest.fixture
def two_branches(make_hub: Callable[..., Hub], sinks: dict[str, RecordingSink]) -> Hub:
    branches: dict[str, dict[str, Any]] = {
        "bordeaux": {"plugins": ["alpha", "beta"]},
        "lyon": {"plugins": ["alpha"]},
    }
    return make_hub(branches)
