"""Crawl progress: live counters, their display (rich on a terminal, log lines under cron), and
the summary printed at the end."""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence, TextIO

from reginventory.units import human_bytes

#: Seconds between plain progress lines (cron, CI logs): often enough to see a crawl move.
LOG_INTERVAL_SECONDS = 10.0
#: Seconds between refreshes of the rich display.
RICH_INTERVAL_SECONDS = 0.25


@dataclass
class CrawlStats:
    """Live counters of one registry's crawl (read by reporters, written by the crawler)."""

    registry: str
    repositories_listed: int = 0
    #: Known once the catalog has been read to the end (or the explicit list was given).
    repositories_total: int | None = None
    repositories_done: int = 0
    tags: int = 0
    manifests: int = 0
    errors: int = 0
    requests_before: int = 0  # requests of earlier runs of a resumed crawl
    request_counter: Callable[[], int] = field(default=lambda: 0, repr=False)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def requests(self) -> int:
        return self.requests_before + self.request_counter()

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def eta(self) -> float | None:
        """Seconds left, from the pace of finished repositories (None until it can be told)."""
        total, done = self.repositories_total, self.repositories_done
        if total is None or done == 0 or self.elapsed <= 0:
            return None
        return max(0.0, (total - done) * self.elapsed / done)


class Reporter(Protocol):
    """Shows progress while crawls run."""

    def start(self, stats: Sequence[CrawlStats]) -> None: ...

    async def run(self) -> None: ...

    def stop(self) -> None: ...


class NullReporter:
    """Shows nothing (``--quiet``, and the Python API's default)."""

    def start(self, stats: Sequence[CrawlStats]) -> None:
        pass

    async def run(self) -> None:
        await asyncio.Event().wait()

    def stop(self) -> None:
        pass


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def status_line(s: CrawlStats) -> str:
    total = "?" if s.repositories_total is None else str(s.repositories_total)
    rate = s.requests / s.elapsed if s.elapsed > 0 else 0.0
    return (
        f"{s.registry}: {s.repositories_done}/{total} repositories, {s.tags} tags, {s.manifests} manifests, "
        f"{s.requests} requests ({rate:.0f}/s), {s.errors} errors, ETA {_duration(s.eta())}"
    )


class LogReporter:
    """One plain line per registry every ``interval`` seconds (not a terminal: cron, CI)."""

    def __init__(self, stream: TextIO | None = None, interval: float = LOG_INTERVAL_SECONDS) -> None:
        self.stream = stream or sys.stderr
        self.interval = interval
        self.stats: Sequence[CrawlStats] = ()

    def start(self, stats: Sequence[CrawlStats]) -> None:
        self.stats = stats

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            for s in self.stats:
                if s.finished is None:
                    print(status_line(s), file=self.stream, flush=True)

    def stop(self) -> None:
        pass


class RichReporter:
    """A live rich display on a terminal: one bar per registry."""

    def __init__(self, stream: TextIO | None = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.console = Console(file=stream or sys.stderr)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.fields[total_text]} repos"),
            TextColumn("{task.fields[tags]} tags"),
            TextColumn("{task.fields[requests]} req ({task.fields[rps]}/s)"),
            TextColumn("{task.fields[errors]} errors"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.tasks: list[tuple[CrawlStats, Any]] = []

    def start(self, stats: Sequence[CrawlStats]) -> None:
        self.progress.start()
        for s in stats:
            task = self.progress.add_task(s.registry, total=None, **self._fields(s))
            self.tasks.append((s, task))

    @staticmethod
    def _fields(s: CrawlStats) -> dict[str, Any]:
        rate = s.requests / s.elapsed if s.elapsed > 0 else 0.0
        return {
            "total_text": "?" if s.repositories_total is None else s.repositories_total,
            "tags": s.tags,
            "requests": s.requests,
            "rps": f"{rate:.0f}",
            "errors": s.errors,
        }

    def refresh(self) -> None:
        for s, task in self.tasks:
            self.progress.update(task, completed=s.repositories_done, total=s.repositories_total, **self._fields(s))

    async def run(self) -> None:
        while True:
            self.refresh()
            await asyncio.sleep(RICH_INTERVAL_SECONDS)

    def stop(self) -> None:
        self.refresh()
        self.progress.stop()


def make_reporter(quiet: bool = False, stream: TextIO | None = None) -> Reporter:
    """rich on a terminal, log lines otherwise, nothing when quiet."""
    stream = stream or sys.stderr
    if quiet:
        return NullReporter()
    if stream.isatty():
        return RichReporter(stream)
    return LogReporter(stream)


def summary(results: Sequence[Any]) -> str:
    """The end-of-crawl summary, one paragraph per registry (CrawlResult objects)."""
    lines: list[str] = []
    for r in results:
        rate = r.requests / r.duration if r.duration > 0 else 0.0
        lines.append(f"{r.registry}  crawl {r.crawl_id} (shard {r.shard}, {r.mode}): {r.status}")
        lines.append(
            f"  {r.repositories} repositories, {r.tags} tags, {r.manifests} manifests, "
            f"{human_bytes(r.bytes)} in distinct blobs"
        )
        lines.append(
            f"  {r.requests} requests in {r.duration:.1f} s ({rate:.0f} requests/s, "
            f"{r.requests / r.tags if r.tags else 0:.2f} per tag), {r.errors} errors"
        )
        if r.errors:
            lines.append("  partial: see the errors table of this crawl")
        if not getattr(r, "committed", True):
            lines.append("  staged: the crawl becomes visible when every shard has finished")
    return "\n".join(lines)
