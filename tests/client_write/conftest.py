"""Fixtures of the write-path tests."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from .helpers import CuttingProxy


@pytest.fixture
def cutting_proxy() -> Iterator[Callable[..., CuttingProxy]]:
    """Factory: ``cutting_proxy(registry.url, cut_after=..., delay=...)``, stopped after the test."""
    started: list[CuttingProxy] = []

    def make(upstream: str, **options: Any) -> CuttingProxy:
        proxy = CuttingProxy(upstream, **options).__enter__()
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.__exit__()
