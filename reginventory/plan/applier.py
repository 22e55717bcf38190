"""Apply a plan: re-check every tag, delete by digest, untag, copy; journal each step.

Before anything changes, each registry with deletions is probed: a DELETE of a digest that cannot
exist must answer 404 (deletes enabled); 405/UNSUPPORTED stops the run with the fix.

Actions run in groups (a deletion with its referrers and children; an untag; a copy), up to
``concurrency`` groups at a time, copies first. Before a delete group runs, every action of it is
checked against the registry as it is now:

- each tag the action removes is resolved again with HEAD: one that points elsewhere skips the
  group ("tag moved");
- the repository's tags are listed and resolved once per run: a tag that the plan does not name
  and that now points at the digest skips the group ("new tag <x> points at the digest").

So referrers are only deleted once their subject is known to go. In one repository the untags
run first, one at a time, and the deletes only after them: distribution 2.8 races when a tag is
written (the untag placeholder) while a DELETE enumerates the repository's tags, answering 404 and
leaving tags that point at nothing; concurrent DELETEs alone were seen safe. Within a group actions run in
plan order (referrers, then the image or index, then its children); a failure stops its group.
The journal (:mod:`reginventory.plan.journal`) makes a rerun resume: finished actions are not
repeated; an action that was started is checked again (a digest already gone counts as done).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import time
import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from reginventory.client.copy import copy_image
from reginventory.client.digest import sha256_digest
from reginventory.client.manifest import ImageManifest
from reginventory.client.registry_client import RegistryClient
from reginventory.client.registry_writer import PLACEHOLDER_LABEL, RegistryWriter
from reginventory.errors import (
    ForbiddenError,
    NotFoundError,
    PlanError,
    RegInventoryError,
    UnauthorizedError,
    UnsupportedError,
)
from reginventory.plan.journal import Journal
from reginventory.plan.planfile import LoadedPlan, format_time

#: Groups in flight. Each holds one or two requests at a time; 8 keeps a local distribution busy
#: on two cores without queueing in its storage driver, and stays polite to a remote registry.
DEFAULT_CONCURRENCY = 8
#: A DELETE answered 404 for a digest that is still there is tried this many times.
DELETE_ATTEMPTS = 3
#: Tags resolved at once when listing a repository's tags for the new-tag check.
TAG_SCAN_CONCURRENCY = 16
GC_REMINDER = (
    "Nothing shrinks until the registry's garbage collection runs. On CNCF distribution, stop the "
    "registry (or make it read-only) and run `registry garbage-collect /etc/docker/registry/config.yml` "
    "(Debian: `docker-registry garbage-collect /etc/docker/registry/config.yml`), then start it again. "
    "Never add --delete-untagged: it deletes every child of every multi-arch image."
)

ClientFactory = Callable[[str], RegistryClient]


@dataclass
class ActionResult:
    """What happened to one action (in this run or an earlier one)."""

    id: int
    action: str
    registry: str
    repository: str
    digest: str
    tags: list[str]
    state: str  # done | skipped | failed | pending (dry run)
    reason: str | None = None
    bytes: int = 0
    earlier_run: bool = False


@dataclass
class Summary:
    """The end of a run: counts, skipped and failed actions with reasons, bytes."""

    plan: str
    checksum: str
    crawl_id: str | None
    started: str
    finished: str = ""
    seconds: float = 0.0
    concurrency: int = DEFAULT_CONCURRENCY
    reclaimable_bytes: int = 0
    results: list[ActionResult] = field(default_factory=list)

    @property
    def done(self) -> list[ActionResult]:
        return [r for r in self.results if r.state == "done"]

    @property
    def skipped(self) -> list[ActionResult]:
        return [r for r in self.results if r.state == "skipped"]

    @property
    def failed(self) -> list[ActionResult]:
        return [r for r in self.results if r.state == "failed"]

    @property
    def freed_bytes(self) -> int:
        """The plan's reclaimable bytes of the deletions that are done (after garbage collection)."""
        return sum(r.bytes for r in self.done if r.action == "delete")

    @property
    def actions_per_second(self) -> float:
        ran = [r for r in self.results if not r.earlier_run and r.state in ("done", "skipped", "failed")]
        return len(ran) / self.seconds if self.seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        """0 all done, 1 something failed, 3 partial (something was skipped)."""
        if self.failed:
            return 1
        return 3 if self.skipped else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "checksum": self.checksum,
            "crawl_id": self.crawl_id,
            "started": self.started,
            "finished": self.finished,
            "seconds": round(self.seconds, 3),
            "concurrency": self.concurrency,
            "actions_per_second": round(self.actions_per_second, 1),
            "counts": {"done": len(self.done), "skipped": len(self.skipped), "failed": len(self.failed),
                       "total": len(self.results)},
            "reclaimable_bytes_planned": self.reclaimable_bytes,
            "reclaimable_bytes_done": self.freed_bytes,
            "skipped": [asdict(r) for r in self.skipped],
            "failed": [asdict(r) for r in self.failed],
            "results": [{"id": r.id, "state": r.state, "reason": r.reason, "earlier_run": r.earlier_run}
                        for r in self.results],
            "garbage_collection": GC_REMINDER,
        }


def write_summary(summary: Summary, path: str | Path) -> Path:
    target = Path(path)
    temporary = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    temporary.write_text(json.dumps(summary.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(temporary, target)
    return target


def default_journal_path(plan_path: str | Path) -> Path:
    return Path(f"{plan_path}.journal")


def default_summary_path(plan_path: str | Path) -> Path:
    return Path(f"{plan_path}.summary.json")


def groups_of(actions: Iterable[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Actions by group, in plan order, groups in the order of their first action."""
    grouped: dict[int, list[dict[str, Any]]] = {}
    for action in actions:
        grouped.setdefault(int(action.get("group") or action["id"]), []).append(action)
    return list(grouped.values())


def interleave(groups: list[list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
    """Groups taken round-robin over repositories (plan order within each): the groups in flight
    then work on different repositories, so that one repository's tag scan does not hold every
    slot, and distribution's per-repository DELETE cost (it reads every tag) is spread."""
    queues: dict[tuple[str, str], list[list[dict[str, Any]]]] = {}
    for group in groups:
        queues.setdefault((group[0]["registry"], group[0]["repository"]), []).append(group)
    out: list[list[dict[str, Any]]] = []
    position = 0
    while len(out) < len(groups):
        for queue in queues.values():
            if position < len(queue):
                out.append(queue[position])
        position += 1
    return out


class _Run:
    def __init__(
        self,
        plan: LoadedPlan,
        client_for: ClientFactory,
        journal: Journal,
        concurrency: int,
        on_result: Callable[[ActionResult], None] | None,
    ) -> None:
        self.plan = plan
        self.client_for = client_for
        self.journal = journal
        self.concurrency = max(1, concurrency)
        self.on_result = on_result
        self.clients: dict[str, RegistryClient] = {}
        self.writers: dict[str, RegistryWriter] = {}
        self.tag_maps: dict[tuple[str, str], asyncio.Task[dict[str, set[str]]]] = {}
        self.results: dict[int, ActionResult] = {}
        self.untag_locks: dict[tuple[str, str], asyncio.Lock] = defaultdict(asyncio.Lock)
        self.untags_left: dict[tuple[str, str], int] = defaultdict(int)
        self.untags_done: dict[tuple[str, str], asyncio.Event] = defaultdict(asyncio.Event)

    # -- clients ----------------------------------------------------------------------------------

    def client(self, registry: str) -> RegistryClient:
        if registry not in self.clients:
            self.clients[registry] = self.client_for(registry)
        return self.clients[registry]

    def writer(self, registry: str) -> RegistryWriter:
        if registry not in self.writers:
            self.writers[registry] = RegistryWriter(self.client(registry))
        return self.writers[registry]

    async def close(self) -> None:
        for writer in self.writers.values():
            await writer.aclose()
        for client in self.clients.values():
            await client.aclose()

    # -- results ----------------------------------------------------------------------------------

    def result(self, action: dict[str, Any], state: str, reason: str | None, earlier: bool = False) -> None:
        result = ActionResult(
            id=action["id"], action=action["action"], registry=action["registry"], repository=action["repository"],
            digest=action["digest"], tags=list(action.get("tags") or []), state=state, reason=reason,
            bytes=int(action.get("bytes") or 0), earlier_run=earlier,
        )
        self.results[action["id"]] = result
        if self.on_result is not None and not earlier:
            self.on_result(result)

    async def finish(self, action: dict[str, Any], state: str, reason: str | None = None) -> None:
        await self.journal.log(action["id"], state, reason)
        self.result(action, state, reason)

    # -- checks -----------------------------------------------------------------------------------

    async def probe_deletes(self, registry: str, repository: str) -> None:
        """Stop before any change when the registry refuses deletes (or these credentials may not)."""
        probe = sha256_digest(f"reginventory-delete-probe-{uuid.uuid4()}".encode())
        try:
            await self.writer(registry).delete_manifest(repository, probe)
        except NotFoundError:
            return  # deletes are enabled; the digest does not exist, as intended
        except UnsupportedError as exc:
            raise PlanError(f"{registry}: {exc.message}; nothing was deleted") from None
        except (UnauthorizedError, ForbiddenError) as exc:
            raise PlanError(
                f"{registry}/{repository}: the credentials may not delete ({exc.message}); use an account with "
                "delete permission (token auth: the `delete` action on the repository); nothing was deleted"
            ) from None

    async def tag_map(self, registry: str, repository: str) -> dict[str, set[str]]:
        """digest -> tags of the repository now, resolved once per run (before any change to it)."""
        key = (registry, repository)
        if key not in self.tag_maps:
            self.tag_maps[key] = asyncio.ensure_future(self._scan_tags(registry, repository))
        return await self.tag_maps[key]

    async def _scan_tags(self, registry: str, repository: str) -> dict[str, set[str]]:
        client = self.client(registry)
        try:
            tags = await client.list_tags(repository)
        except NotFoundError:
            return {}
        slots = asyncio.Semaphore(TAG_SCAN_CONCURRENCY)
        found: dict[str, set[str]] = defaultdict(set)

        async def resolve(tag: str) -> None:
            async with slots:
                try:
                    head = await client.head_manifest(repository, tag)
                except NotFoundError:
                    return
            found[head.digest].add(tag)

        await asyncio.gather(*(resolve(t) for t in tags))
        return found

    async def drift(self, action: dict[str, Any], tag_map: dict[str, set[str]]) -> str | None:
        """Why a delete must not run now, or None."""
        client = self.client(action["registry"])
        named = set(action.get("tags") or [])
        for tag in sorted(named):
            try:
                head = await client.head_manifest(action["repository"], tag)
            except NotFoundError:
                continue  # gone already: it cannot lose anything
            if head.digest != action["digest"]:
                return f"tag {tag} moved to {head.digest}"
        extra = sorted(tag_map.get(action["digest"], set()) - named)
        if extra:
            return f"new tag {extra[0]} points at the digest"
        return None

    # -- groups -----------------------------------------------------------------------------------

    async def run_group(self, group: list[dict[str, Any]], slots: asyncio.Semaphore) -> None:
        pending = [a for a in group if not self.journal.finished(a["id"])]
        if not pending:
            return
        first = pending[0]
        key = (first["registry"], first["repository"])
        if first["action"] == "delete" and self.untags_left[key]:
            await self.untags_done[key].wait()  # before taking a slot: untags need them
        async with slots:
            try:
                if first["action"] == "copy":
                    for action in pending:
                        await self.copy(action)
                    return
                tag_map = await self.tag_map(first["registry"], first["repository"])
                if first["action"] == "untag":
                    async with self.untag_locks[key]:
                        for action in pending:
                            await self.untag(action)
                    return
                await self.delete_group(pending, tag_map)
            except RegInventoryError as exc:
                for action in pending:
                    if action["id"] not in self.results:
                        await self.finish(action, "failed", str(exc))
            finally:
                if first["action"] == "untag":
                    self.untags_left[key] -= 1
                    if self.untags_left[key] == 0:
                        self.untags_done[key].set()

    async def delete_group(self, pending: list[dict[str, Any]], tag_map: dict[str, set[str]]) -> None:
        for action in pending:
            reason = await self.drift(action, tag_map)
            if reason:
                for other in pending:
                    why = reason if other is action else f"{reason} (action {action['id']} of its group)"
                    await self.finish(other, "skipped", why)
                return
        writer = None
        for position, action in enumerate(pending):
            # Not waited for: a rerun re-checks every unfinished action whatever its last line.
            await self.journal.log(action["id"], "started", wait=False)
            writer = writer or self.writer(action["registry"])
            try:
                gone = await self._delete(writer, action)
            except RegInventoryError as exc:
                await self.finish(action, "failed", str(exc))
                for later in pending[position + 1:]:
                    await self.finish(later, "failed", f"not run: action {action['id']} of its group failed")
                return
            await self.finish(action, "done", "already gone" if gone else None)

    async def _delete(self, writer: RegistryWriter, action: dict[str, Any]) -> bool:
        """DELETE by digest; True when it was already gone. A 404 for a digest that HEAD still
        finds is retried (distribution answers 404 when its tag bookkeeping races)."""
        repository, digest = action["repository"], action["digest"]
        for attempt in range(DELETE_ATTEMPTS):
            try:
                await writer.delete_manifest(repository, digest)
                return False
            except NotFoundError:
                try:
                    await writer.client.head_manifest(repository, digest)
                except NotFoundError:
                    return attempt == 0
                await asyncio.sleep(0.05 * (attempt + 1))
        raise PlanError(f"{action['registry']}/{repository}@{digest}: the registry answers 404 to DELETE but still serves it")

    async def untag(self, action: dict[str, Any]) -> None:
        registry, repository, digest = action["registry"], action["repository"], action["digest"]
        tag = action["tags"][0]
        resumed = self.journal.state(action["id"]) == "started"
        client = self.client(registry)
        try:
            head = await client.head_manifest(repository, tag)
        except NotFoundError:
            if resumed:
                await self.finish(action, "done", "already untagged")
            else:
                await self.finish(action, "skipped", f"tag {tag} is gone")
            return
        if head.digest != digest:
            if resumed and await self._is_placeholder(registry, repository, tag):
                # Killed between pushing the placeholder and deleting it: finish the job.
                await self.journal.log(action["id"], "started", "removing the placeholder left by a killed run")
                await self.writer(registry).delete_manifest(repository, head.digest)
                await self.finish(action, "done", "placeholder of an interrupted run removed")
            else:
                await self.finish(action, "skipped", f"tag {tag} moved to {head.digest}")
            return
        await self.journal.log(action["id"], "started")
        try:
            await self.writer(registry).delete_tag(repository, tag)
        except RegInventoryError:
            # Did it get through anyway (a 404 from the placeholder's DELETE)? Finish or re-raise.
            try:
                now = await client.head_manifest(repository, tag)
            except NotFoundError:
                await self.finish(action, "done")
                return
            if now.digest != digest and await self._is_placeholder(registry, repository, tag):
                await self._delete(self.writer(registry), {**action, "digest": now.digest})
                await self.finish(action, "done", "placeholder removed on a second try")
                return
            raise
        await self.finish(action, "done")

    async def _is_placeholder(self, registry: str, repository: str, tag: str) -> bool:
        client = self.client(registry)
        try:
            manifest = await client.get_manifest(repository, tag)
            if not isinstance(manifest, ImageManifest):
                return False
            config = await client.get_config(repository, manifest)
        except RegInventoryError:
            return False
        return config is not None and config.labels.get(f"{PLACEHOLDER_LABEL}.tag") == tag

    async def copy(self, action: dict[str, Any]) -> None:
        source = self.client(action["registry"])
        target = self.client(action["destination_registry"])
        repository, digest = action["destination_repository"], action["digest"]
        tags = list(action.get("tags") or [])
        await self.journal.log(action["id"], "started")
        missing = list(tags)
        try:
            await target.head_manifest(repository, digest)
            present = True
        except NotFoundError:
            present = False
        if present:
            missing = []
            for tag in tags:
                try:
                    if (await target.head_manifest(repository, tag)).digest == digest:
                        continue
                except NotFoundError:
                    pass
                missing.append(tag)
            if not missing:
                await self.finish(action, "done", "already present at the destination")
                return
            writer = self.writer(action["destination_registry"])
            for tag in missing:
                await writer.tag_image(repository, digest, tag)
            await self.finish(action, "done", f"already present; tagged {', '.join(missing)}")
            return
        first = missing[0] if missing else None
        await copy_image(source, action["repository"], digest, target, repository, first)
        if len(missing) > 1:
            writer = self.writer(action["destination_registry"])
            for tag in missing[1:]:
                await writer.tag_image(repository, digest, tag)
        await self.finish(action, "done")

    # -- the run ----------------------------------------------------------------------------------

    async def run(self) -> None:
        actions = self.plan.actions
        for action in actions:
            entry = self.journal.last.get(action["id"])
            if entry is not None and entry.state in ("done", "skipped"):
                self.result(action, entry.state, entry.reason, earlier=True)
        pending = [a for a in actions if not self.journal.finished(a["id"])]
        # Probe every registry that will see a delete before anything at all changes.
        probed: set[str] = set()
        for action in pending:
            if action["action"] in ("delete", "untag") and action["registry"] not in probed:
                probed.add(action["registry"])
                await self.probe_deletes(action["registry"], action["repository"])
        slots = asyncio.Semaphore(self.concurrency)
        for group in groups_of(pending):
            if group[0]["action"] == "untag":
                self.untags_left[(group[0]["registry"], group[0]["repository"])] += 1
        copies = [g for g in groups_of(pending) if g[0]["action"] == "copy"]
        others = interleave([g for g in groups_of(pending) if g[0]["action"] != "copy"])
        for phase in (copies, others):
            await asyncio.gather(*(self.run_group(group, slots) for group in phase))


async def apply_plan_async(
    plan: LoadedPlan,
    client_for: ClientFactory,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    journal_path: str | Path | None = None,
    on_result: Callable[[ActionResult], None] | None = None,
) -> Summary:
    """Run a checked plan (see :func:`reginventory.plan.planfile.load_plan`) against the registries."""
    started = dt.datetime.now(dt.timezone.utc)
    clock = time.monotonic()
    journal = Journal(journal_path or default_journal_path(plan.path), str(plan.data.get("checksum")))
    run = _Run(plan, client_for, journal, concurrency, on_result)
    try:
        await run.run()
    finally:
        await run.close()
        await journal.drain()
        journal.close()
    results = [run.results.get(a["id"]) or ActionResult(
        a["id"], a["action"], a["registry"], a["repository"], a["digest"], list(a.get("tags") or []), "failed",
        "not run", int(a.get("bytes") or 0)) for a in plan.actions]
    return Summary(
        plan=str(plan.path), checksum=str(plan.data.get("checksum")), crawl_id=plan.data.get("crawl_id"),
        started=format_time(started), finished=format_time(dt.datetime.now(dt.timezone.utc)),
        seconds=time.monotonic() - clock, concurrency=concurrency,
        reclaimable_bytes=int(plan.data.get("reclaimable_bytes") or 0), results=results,
    )


def apply_plan(plan: LoadedPlan, client_for: ClientFactory, **kwargs: Any) -> Summary:
    """Synchronous :func:`apply_plan_async`."""
    return asyncio.run(apply_plan_async(plan, client_for, **kwargs))
