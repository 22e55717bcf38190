"""The plan file: checksum, refusal of edited or stale plans, durations."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from reginventory.errors import PlanError
from reginventory.plan import check_age, checksum, load_plan, parse_duration, write_plan
from reginventory.plan.planfile import canonical_json


def _plan(**extra: object) -> dict:
    return {
        "plan_version": 1,
        "created": "2025-06-01T00:00:00Z",
        "crawl_id": "c1",
        "crawl_started": "2025-06-01T00:00:00Z",
        "registries": ["127.0.0.1:5000"],
        "policy": {"path": "policy.toml", "sha256": "sha256:00"},
        "reclaimable_bytes": 10,
        "actions": [
            {"id": 1, "action": "delete", "registry": "127.0.0.1:5000", "repository": "a/b",
             "digest": "sha256:" + "1" * 64, "tags": ["pr-1"], "rule": "rules[1]", "bytes": 10, "group": 1, "after": []},
        ],
        **extra,
    }


def test_checksum_is_over_canonical_json_without_itself(tmp_path: Path) -> None:
    path = write_plan(_plan(), tmp_path / "plan.json")
    data = json.loads(path.read_text())
    body = {k: v for k, v in data.items() if k != "checksum"}
    import hashlib

    assert data["checksum"] == "sha256:" + hashlib.sha256(canonical_json(body)).hexdigest() == checksum(data)
    assert load_plan(path).actions[0]["tags"] == ["pr-1"]


def test_a_plan_edited_by_hand_fails_its_checksum(tmp_path: Path) -> None:
    path = write_plan(_plan(), tmp_path / "plan.json")
    path.write_text(path.read_text().replace('"pr-1"', '"pr-2"'))
    with pytest.raises(PlanError, match="fails its checksum"):
        load_plan(path)
    assert load_plan(path, verify=False).actions[0]["tags"] == ["pr-2"]


def test_reformatting_keeps_the_checksum(tmp_path: Path) -> None:
    path = write_plan(_plan(), tmp_path / "plan.json")
    path.write_text(json.dumps(json.loads(path.read_text())))  # whitespace and key order do not count
    load_plan(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"digest": "latest"}, "not pinned to a sha256 digest"),
        ({"action": "purge"}, "unknown action"),
        ({"repository": ""}, "lacks repository"),
    ],
)
def test_malformed_actions_are_refused(tmp_path: Path, change: dict, message: str) -> None:
    plan = _plan()
    plan["actions"][0].update(change)
    with pytest.raises(PlanError, match=message):
        load_plan(write_plan(plan, tmp_path / "plan.json"))


def test_not_a_plan(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("[1, 2]")
    with pytest.raises(PlanError, match="not a reginventory plan"):
        load_plan(tmp_path / "x.json")
    (tmp_path / "y.json").write_text("{")
    with pytest.raises(PlanError, match="not JSON"):
        load_plan(tmp_path / "y.json")


def test_max_age(tmp_path: Path) -> None:
    plan = load_plan(write_plan(_plan(), tmp_path / "plan.json"))
    now = dt.datetime(2025, 6, 1, 23, tzinfo=dt.timezone.utc)
    check_age(plan, parse_duration("24h"), now)
    with pytest.raises(PlanError, match="older than --max-age 12h"):
        check_age(plan, parse_duration("12h"), now)


def test_durations() -> None:
    assert parse_duration("90m") == dt.timedelta(minutes=90)
    assert parse_duration("7d") == dt.timedelta(days=7)
    assert parse_duration("30") == dt.timedelta(seconds=30)
    with pytest.raises(PlanError, match="bad duration"):
        parse_duration("soon")
