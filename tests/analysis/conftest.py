"""Fixtures of the analysis tests: the hand-made scenario, written once per session."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from reginventory.analysis import Inventory, open_inventory
from tests.analysis.scenario import Scenario, build


@pytest.fixture(scope="session")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return build(tmp_path_factory.mktemp("scenario"))


@pytest.fixture(scope="session")
def inventory(scenario: Scenario) -> Iterator[Inventory]:
    with open_inventory(scenario.root) as inv:
        yield inv


@pytest.fixture
def snapshot_dir(scenario: Scenario) -> Path:
    return scenario.root
