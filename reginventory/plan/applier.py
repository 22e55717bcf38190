"""Apply a plan: re-check every tag, delete by digest, untag, copy; journal each step.

Before anything changes, each registry with deletions is probed: a DELETE of a digest that cannot
exist must answer 404 (deletes enabled); 405/UNSUPPORTED stops the run with the fix.

Copies run first. Then the deletions run over several repositories at once, at most
:data:`PER_REPOSITORY` groups in flight in each: a new repository starts while the started ones
cannot fill ``concurrency`` slots. In a repository:

1. the untags run first, one at a time, each with its own HEAD: distribution 2.8 races when a
   tag is written (the untag placeholder) while a DELETE enumerates the repository's tags,
   answering 404 and leaving tags that point at nothing; concurrent DELETEs alone were seen safe;
2. the repository's tags are listed and every one is resolved with HEAD (one request per tag,
   once): this is each delete's drift check and its new-tag check in one. A group is skipped when
   a tag it removes now points elsewhere ("tag moved") or a tag it does not name points at one of
   its digests ("new tag <x> points at the digest"); a group whose check is older than
   :data:`CHECK_MAX_AGE_SECONDS` when its turn comes resolves its own tags again first;
3. the delete groups run concurrently, each in plan order (referrers, then the image or index,
   then its children); a failure stops its group. ``concurrency`` bounds the requests in flight.

So referrers are only deleted once their subject is known to go. The journal
(:mod:`reginventory.plan.journal`) makes a rerun resume: finished actions are not repeated; an
action that was started is checked again (a digest already gone counts as done).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable

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

#: Requests in flight (HEADs of the checks, DELETEs). 8 keeps a local distribution busy on two
#: cores and stays polite to a remote registry: 4, 8 and 16 applied 288, 298 and 301 deletes/s
#: (benchmarks/bench_plan.py, registry in memory; the run is CPU-bound from 8 on).
DEFAULT_CONCURRENCY = 8
#: A DELETE answered 404 for a digest that is still there is tried this many times.
DELETE_ATTEMPTS = 3
#: A repository's tag resolution vouches for a group's tags for this long; an older one is
#: repeated for the group's own tags (HEAD) right before its deletes.
CHECK_MAX_AGE_SECONDS = 5.0
#: Delete groups in flight in one repository. Every DELETE on distribution lists the repository's
#: tag directory while the others remove entries from it, so deletes in one repository wait on
#: each other (the directory's lock): the slots go to several repositories instead.
PER_REPOSITORY = 4
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
    #: Tags resolved a second time because their repository's check had grown too old.
    rechecks: int = 0

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
            "rechecks": self.rechecks,
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


def by_repository(groups: list[list[dict[str, Any]]]) -> dict[tuple[str, str], list[list[dict[str, Any]]]]:
    """Groups per (registry, repository), repositories in the order of their first group."""
    out: dict[tuple[str, str], list[list[dict[str, Any]]]] = {}
    for group in groups:
        out.setdefault((group[0]["registry"], group[0]["repository"]), []).append(group)
    return out


@dataclass
class TagView:
    """A repository's tags as the registry resolved them, from ``time`` (monotonic seconds) on."""

    tags: dict[str, str]  # tag -> digest
    time: float
    by_digest: dict[str, set[str]] = field(init=False)

    def __post_init__(self) -> None:
        self.by_digest = {}
        for tag, digest in self.tags.items():
            self.by_digest.setdefault(digest, set()).add(tag)

    @property
    def age(self) -> float:
        return time.monotonic() - self.time


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
        self.results: dict[int, ActionResult] = {}
        self.slots = asyncio.Semaphore(self.concurrency)
        #: Groups the started repositories can run at once: min(groups left, PER_REPOSITORY) each.
        self.runnable = 0
        self.runnable_changed = asyncio.Condition()
        #: HEADs sent again because a repository's resolution was older than CHECK_MAX_AGE_SECONDS.
        self.rechecks = 0

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

    async def resolve(self, registry: str, repository: str) -> TagView:
        """Every tag of the repository now: one listing, one HEAD per tag (each under a slot)."""
        client = self.client(registry)
        started = time.monotonic()
        async with self.slots:
            try:
                tags = await client.list_tags(repository)
            except NotFoundError:
                return TagView({}, started)
        found: dict[str, str] = {}

        async def head(tag: str) -> None:
            async with self.slots:
                try:
                    found[tag] = (await client.head_manifest(repository, tag)).digest
                except NotFoundError:
                    pass  # gone since the listing (or dangling): it cannot lose anything

        await asyncio.gather(*(head(t) for t in tags))
        return TagView(found, started)

    def drift(self, action: dict[str, Any], view: TagView) -> str | None:
        """Why a delete must not run now, or None. A tag missing from ``view`` is gone: nothing to lose."""
        named = set(action.get("tags") or [])
        for tag in sorted(named):
            now = view.tags.get(tag)
            if now is not None and now != action["digest"]:
                return f"tag {tag} moved to {now}"
        extra = sorted(view.by_digest.get(action["digest"], set()) - named)
        if extra:
            return f"new tag {extra[0]} points at the digest"
        return None

    async def recheck(self, pending: list[dict[str, Any]], view: TagView) -> TagView:
        """``view`` with the group's own tags resolved again (HEAD), when it is too old to vouch for them."""
        if view.age <= CHECK_MAX_AGE_SECONDS:
            return view
        first = pending[0]
        client = self.client(first["registry"])
        tags = dict(view.tags)
        for tag in sorted({t for a in pending for t in a.get("tags") or []}):
            self.rechecks += 1
            async with self.slots:
                try:
                    tags[tag] = (await client.head_manifest(first["repository"], tag)).digest
                except NotFoundError:
                    tags.pop(tag, None)
        return TagView(tags, view.time)

    # -- repositories and groups ------------------------------------------------------------------

    async def run_repository(self, groups: list[list[dict[str, Any]]]) -> None:
        """Untags one at a time, then the repository's tags resolved once, then the delete groups,
        :data:`PER_REPOSITORY` at a time. Started with ``min(len(groups), PER_REPOSITORY)`` runnable."""
        left = len(groups)

        async def finished() -> None:
            nonlocal left
            left -= 1
            async with self.runnable_changed:
                self.runnable -= min(left + 1, PER_REPOSITORY) - min(left, PER_REPOSITORY)
                self.runnable_changed.notify_all()

        for group in groups:
            if group[0]["action"] == "untag":
                await self.guarded(group, self.untag_group(group), finished)
        deletes = [g for g in groups if g[0]["action"] == "delete"]
        if not deletes:
            return
        first = deletes[0][0]
        try:
            view = await self.resolve(first["registry"], first["repository"])
        except RegInventoryError as exc:
            for group in deletes:
                await self.guarded(group, self.fail(group, str(exc)), finished)
            return
        share = asyncio.Semaphore(PER_REPOSITORY)

        async def delete(group: list[dict[str, Any]]) -> None:
            async with share:
                await self.delete_group(group, view)

        await asyncio.gather(*(self.guarded(g, delete(g), finished) for g in deletes))

    async def guarded(self, group: list[dict[str, Any]], work: Awaitable[None],
                      finished: Callable[[], Awaitable[None]] | None = None) -> None:
        """Run a group's work; a registry error fails its actions that have no result yet."""
        try:
            await work
        except RegInventoryError as exc:
            await self.fail(group, str(exc))
        finally:
            if finished is not None:
                await finished()

    async def fail(self, group: list[dict[str, Any]], reason: str) -> None:
        for action in group:
            if action["id"] not in self.results and not self.journal.finished(action["id"]):
                await self.finish(action, "failed", reason)

    async def untag_group(self, group: list[dict[str, Any]]) -> None:
        for action in group:
            if not self.journal.finished(action["id"]):
                async with self.slots:
                    await self.untag(action)

    async def delete_group(self, group: list[dict[str, Any]], view: TagView) -> None:
        pending = [a for a in group if not self.journal.finished(a["id"])]
        if not pending:
            return
        view = await self.recheck(pending, view)
        for action in pending:
            reason = self.drift(action, view)
            if reason:
                for other in pending:
                    why = reason if other is action else f"{reason} (action {action['id']} of its group)"
                    await self.finish(other, "skipped", why)
                return
        writer = self.writer(pending[0]["registry"])
        for position, action in enumerate(pending):
            # Not waited for: a rerun re-checks every unfinished action whatever its last line.
            await self.journal.log(action["id"], "started", wait=False)
            try:
                async with self.slots:
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
        groups = groups_of(pending)
        copies = [g for g in groups if g[0]["action"] == "copy"]
        await asyncio.gather(*(self.guarded(g, self.copy_group(g)) for g in copies))
        tasks = []
        for repository_groups in by_repository([g for g in groups if g[0]["action"] != "copy"]).values():
            async with self.runnable_changed:
                await self.runnable_changed.wait_for(lambda: self.runnable < self.concurrency)
                self.runnable += min(len(repository_groups), PER_REPOSITORY)
            tasks.append(asyncio.create_task(self.run_repository(repository_groups)))
        await asyncio.gather(*tasks)

    async def copy_group(self, group: list[dict[str, Any]]) -> None:
        async with self.slots:
            for action in group:
                await self.copy(action)



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
        reclaimable_bytes=int(plan.data.get("reclaimable_bytes") or 0), results=results, rechecks=run.rechecks,
    )


def apply_plan(plan: LoadedPlan, client_for: ClientFactory, **kwargs: Any) -> Summary:
    """Synchronous :func:`apply_plan_async`."""
    return asyncio.run(apply_plan_async(plan, client_for, **kwargs))
