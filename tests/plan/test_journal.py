"""The journal: append-only, last state wins, torn lines ignored, bound to one plan."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from reginventory.errors import PlanError
from reginventory.plan.journal import Journal


def test_states_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "plan.json.journal"
    with Journal(path, "sha256:p") as journal:
        journal.record(1, "started")
        journal.record(1, "done")
        journal.record(2, "started")
        journal.record(3, "skipped", "tag moved")
    with path.open("a") as f:
        f.write('{"action_id": 4, "sta')  # torn by a SIGKILL
    with Journal(path, "sha256:p") as journal:
        assert journal.finished(1) and journal.finished(3) and not journal.finished(2)
        assert journal.state(2) == "started" and journal.state(4) is None
        assert journal.last[3].reason == "tag moved" and journal.runs == 2
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.startswith('{"')and line.endswith("}")]
    assert [line.get("run") for line in lines if "plan" in line] == [1, 2]


def test_a_journal_of_another_plan_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j"
    Journal(path, "sha256:a").close()
    with pytest.raises(PlanError, match="belongs to another plan"):
        Journal(path, "sha256:b")


def test_concurrent_log_shares_fsyncs_and_keeps_every_line(tmp_path: Path) -> None:
    path = tmp_path / "j"

    async def main() -> None:
        with Journal(path, "sha256:p") as journal:
            await asyncio.gather(*(journal.log(i, "done") for i in range(200)))
            assert all(journal.finished(i) for i in range(200))

    asyncio.run(main())
    states = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    assert sorted(s["action_id"] for s in states) == list(range(200))
