"""The apply journal: one JSON line per action state change, fsynced before the run goes on.

A line is ``{"action_id": 7, "state": "started|done|skipped|failed", "reason": "...",
"time": "..."}``. The file is only appended to, so a run killed at any instant leaves at worst a
torn last line, which is ignored. A rerun reads the last state of each action: ``done`` and
``skipped`` are not repeated; ``started`` (killed mid-way) and ``failed`` are checked and run again.
Concurrent actions share fsyncs (group commit, :meth:`Journal.log`): each waits until its own
line is on disk, but one fsync covers every line written meanwhile. The journal names the plan's checksum in its first line, so a journal is never replayed
against another plan.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reginventory.errors import PlanError

STATES = ("started", "done", "skipped", "failed")
FINAL = frozenset({"done", "skipped"})


@dataclass(frozen=True)
class Entry:
    action_id: int
    state: str
    reason: str | None = None
    time: str | None = None
    run: int = 0


class Journal:
    """Append-only, fsync per line; ``last`` holds each action's latest entry."""

    def __init__(self, path: str | Path, plan_checksum: str) -> None:
        self.path = Path(path)
        self.plan_checksum = plan_checksum
        self.last: dict[int, Entry] = {}
        self.runs = 0
        self._read()
        torn = self.path.exists() and self.path.stat().st_size > 0 and not self.path.read_bytes().endswith(b"\n")
        self._file = open(self.path, "a", encoding="utf-8")
        if torn:
            self._file.write("\n")  # end the line a killed run tore, so the next one stands alone
        self.runs += 1
        self._pending: list[tuple[str, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._write({"plan": plan_checksum, "run": self.runs, "time": _now()})

    def _read(self) -> None:
        if not self.path.exists():
            return
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), start=1):
            try:
                data = json.loads(line)
            except ValueError:
                continue  # a torn last line from a killed run
            if "plan" in data:
                if data["plan"] != self.plan_checksum:
                    raise PlanError(
                        f"journal {self.path} belongs to another plan ({data['plan']}); move it away or pass --journal"
                    )
                self.runs = max(self.runs, int(data.get("run", 0)))
                continue
            if data.get("state") in STATES and isinstance(data.get("action_id"), int):
                self.last[data["action_id"]] = Entry(
                    data["action_id"], data["state"], data.get("reason"), data.get("time"), self.runs
                )

    def _write(self, record: dict[str, Any]) -> None:
        self._write_text(json.dumps(record, sort_keys=True) + "\n")

    def _write_text(self, text: str) -> None:
        self._file.write(text)
        self._file.flush()
        os.fsync(self._file.fileno())

    def _entry(self, action_id: int, state: str, reason: str | None) -> tuple[Entry, str]:
        if state not in STATES:
            raise ValueError(state)
        entry = Entry(action_id, state, reason, _now(), self.runs)
        record: dict[str, Any] = {"action_id": action_id, "state": state, "time": entry.time}
        if reason:
            record["reason"] = reason
        return entry, json.dumps(record, sort_keys=True) + "\n"

    def record(self, action_id: int, state: str, reason: str | None = None) -> Entry:
        """Append one state change and flush it to disk before returning."""
        entry, line = self._entry(action_id, state, reason)
        self._write_text(line)
        self.last[action_id] = entry
        return entry

    async def log(self, action_id: int, state: str, reason: str | None = None, *, wait: bool = True) -> Entry:
        """:meth:`record` for concurrent actions: returns once the line is on disk (group commit).

        ``wait=False`` queues the line without waiting for its fsync (it is written, in order,
        with the next commit): for ``started``, which a resume does not depend on, since a
        rerun checks every unfinished action against the registry anyway.
        """
        entry, line = self._entry(action_id, state, reason)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((line, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        if wait:
            await future
        self.last[action_id] = entry
        return entry

    async def drain(self) -> None:
        """Wait until every queued line is on disk."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await asyncio.to_thread(self._write_text, "".join(line for line, _ in batch))
            except BaseException as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
                raise
            for _, future in batch:
                if not future.done():
                    future.set_result(None)

    def finished(self, action_id: int) -> bool:
        entry = self.last.get(action_id)
        return entry is not None and entry.state in FINAL

    def state(self, action_id: int) -> str | None:
        entry = self.last.get(action_id)
        return entry.state if entry else None

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
