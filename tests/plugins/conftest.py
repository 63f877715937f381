"""Fixtures shared by the Google connectors' tests (Sheets and Gmail share google-api-python-client)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import httplib2
import pytest
from googleapiclient import discovery

T = TypeVar("T")


@pytest.fixture
def instances(monkeypatch: pytest.MonkeyPatch) -> Callable[[type[T]], list[T]]:
    """`instances(cls)`: the list of every `cls` object built from now on (clients counted, never timed)."""
    def recording(cls: type[T]) -> list[T]:
        made: list[T] = []
        init = cls.__init__

        def recording_init(self: T, *args: Any, **kwargs: Any) -> None:
            made.append(self)
            init(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", recording_init)
        return made
    return recording


@pytest.fixture
def made(instances: Callable[[type[httplib2.Http]], list[httplib2.Http]]) -> list[httplib2.Http]:
    """Every httplib2.Http built from now on (google-auth-httplib2 wraps one per service)."""
    return instances(httplib2.Http)


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many services and resource objects google-api-python-client made."""
    counts = {"services": 0, "resources": 0}
    build, init = discovery.build_from_document, discovery.Resource.__init__

    def counting_build(*args: Any, **kwargs: Any) -> Any:
        counts["services"] += 1
        return build(*args, **kwargs)

    def counting_init(self: Any, *args: Any, **kwargs: Any) -> None:
        counts["resources"] += 1
        init(self, *args, **kwargs)

    monkeypatch.setattr(discovery, "build_from_document", counting_build)  # build() calls it too
    monkeypatch.setattr(discovery.Resource, "__init__", counting_init)
    return counts
