"""Plan tests: hand-made snapshots from the synthetic registry model, and helpers over plans."""

from __future__ import annotations

import datetime as dt
import itertools
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

from synthetic import RegistryModel  # noqa: E402

from reginventory.analysis import open_inventory  # noqa: E402
from reginventory.plan import make_plan, parse_policy  # noqa: E402

#: The time every synthetic crawl happens; ages count from it.
NOW = dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)
_COUNTER = itertools.count()


def days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def dedent(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


@pytest.fixture
def plan_of(tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """``plan_of(model, policy_text)``: crawl the model into a snapshot and plan it."""

    def run(model: RegistryModel, policy: str, *, root: Path | None = None) -> dict[str, Any]:
        where = root or tmp_path / f"snapshot-{next(_COUNTER)}"
        if root is None:
            model.crawl(where, "crawl-1", NOW)
        with open_inventory(where) as inv:
            return make_plan(inv, parse_policy(dedent(policy)), now=NOW)

    return run


def deleted(plan: dict[str, Any]) -> set[tuple[str, str]]:
    """(repository, digest) of every delete action."""
    return {(a["repository"], a["digest"]) for a in plan["actions"] if a["action"] == "delete"}


def untagged(plan: dict[str, Any]) -> set[tuple[str, str]]:
    """(repository, tag) of every untag action."""
    return {(a["repository"], a["tags"][0]) for a in plan["actions"] if a["action"] == "untag"}


def action_for(plan: dict[str, Any], digest: str) -> dict[str, Any]:
    return next(a for a in plan["actions"] if a["digest"] == digest and a["action"] == "delete")
