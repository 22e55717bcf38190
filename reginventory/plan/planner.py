"""Policy + snapshot -> plan: which digests to delete, which tags to untag, what to copy.

The steps, per repository:

1. Rules mark tags: a tag is deleted when some rule selects it, no rule keeps it and
   ``[protect]`` does not name it. Cosign-style tags (``sha256-<hex>[.sig|.att|.sbom]``) belong
   to their subject: rules never select them; they go when their subject goes.
2. Tags to digests: a digest is a deletion candidate only when *every* tag pointing at it is
   deleted; otherwise only the deleted tags are removed (``untag``) and the image stays.
3. Nothing reachable from what stays is deleted: children of a kept index (images and
   attestations), the subject of a kept referrer. Such candidates become ``untag`` actions.
4. The requested deletions (candidates, plus untagged manifests and dangling referrers when the
   policy asks) are expanded by the analysis ``cascade`` query (children of deleted indexes that
   nothing else holds, referrers of deleted subjects), plus the OCI referrers fallback index
   (tag ``sha256-<hex>``) of each deleted subject, until nothing more is added.
5. ``reclaimable_bytes`` is the ``reclaimable`` query over exactly the plan's delete actions;
   each freed blob's bytes are attributed to the first action that references it, so the
   actions' ``bytes`` add up to it.

Actions are ordered copies first, then per repository the untags and the delete groups; in a
group, referrers come before their subject and an index before its children, so an interrupted
run never leaves a child deleted under a parent that is still there.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any, Iterable

import pyarrow as pa

from reginventory import __version__
from reginventory.analysis.inventory import Inventory
from reginventory.client.reference import REFERRER_TAG_RE
from reginventory.errors import PlanError
from reginventory.plan.planfile import PLAN_VERSION, format_time
from reginventory.plan.policy import Policy

#: A ``created`` at or before this is a reproducible-build placeholder, not a date.
EPOCH_LIMIT = dt.datetime(1970, 1, 2, tzinfo=dt.timezone.utc)
#: The cascade adds fallback indexes, whose children add nothing new: two or three rounds settle.
MAX_ROUNDS = 16
DAY = 86400.0


@dataclass
class Manifest:
    digest: str
    media_type: str
    kind: str
    tagged: bool
    manifest_size: int
    total_size: int
    subject: str | None


@dataclass
class Repo:
    """Everything the planner knows about one repository of one registry."""

    registry: str
    name: str
    manifests: dict[str, Manifest] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)  # ordinary tag -> digest
    times: dict[str, dt.datetime] = field(default_factory=dict)  # ordinary tag -> effective time
    referrer_tags: dict[str, str] = field(default_factory=dict)  # cosign/fallback tag -> digest
    children: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    subjects: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # referrer -> subjects
    referrers: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # subject -> referrers

    _by_digest: dict[str, list[str]] | None = None

    def tags_of(self, digest: str) -> list[str]:
        """Every tag (ordinary and referrer) pointing at a digest, sorted."""
        if self._by_digest is None:
            index: dict[str, list[str]] = defaultdict(list)
            for tag, target in [*self.tags.items(), *self.referrer_tags.items()]:
                index[target].append(tag)
            self._by_digest = {d: sorted(t) for d, t in index.items()}
        return list(self._by_digest.get(digest, ()))

    _by_subject: dict[str, list[tuple[str, str]]] | None = None

    def referrer_tags_of(self, subject: str) -> list[tuple[str, str]]:
        """(tag, digest) of the cosign-style and fallback tags of a subject."""
        if self._by_subject is None:
            index: dict[str, list[tuple[str, str]]] = defaultdict(list)
            for tag, target in sorted(self.referrer_tags.items()):
                match = REFERRER_TAG_RE.match(tag)
                if match:
                    index[f"{match.group(1)}:{match.group(2)}"].append((tag, target))
            self._by_subject = dict(index)
        return list(self._by_subject.get(subject, ()))


@dataclass
class Marks:
    """The outcome of the rules for one repository."""

    deleted: dict[str, list[str]] = field(default_factory=dict)  # tag -> rule labels that selected it
    kept: dict[str, str] = field(default_factory=dict)  # selected tag -> why it stays


def effective_time(created: dt.datetime | None, first_seen: dt.datetime) -> dt.datetime:
    """A tag's age counts from its image's ``created``, else from when a crawl first saw it."""
    if created is None or created <= EPOCH_LIMIT:
        return first_seen
    return created


def mark_tags(policy: Policy, repo: Repo, as_of: dt.datetime) -> Marks:
    """Apply the rules to the ordinary tags of one repository (pure)."""
    marks = Marks()
    selected: dict[str, list[str]] = defaultdict(list)
    keeps: dict[str, list[str]] = defaultdict(list)
    names = sorted(repo.tags)
    age = {t: (as_of - repo.times[t]).total_seconds() / DAY for t in names}
    for rule in policy.rules:
        if not rule.applies_to(repo.registry, repo.name):
            continue
        matched = [t for t in names if rule.delete_tags is None or rule.delete_tags.search(t)]
        for tag in matched:
            if rule.older_than_days is None or age[tag] > rule.older_than_days:
                selected[tag].append(rule.label)
        if rule.keep_newest:
            newest = sorted(matched, key=lambda t: (-repo.times[t].timestamp(), t))[: rule.keep_newest]
            for tag in newest:
                keeps[tag].append(f"{rule.label}: one of the newest {rule.keep_newest}")
        for tag in names:
            if rule.keep_tags is not None and rule.keep_tags.search(tag):
                keeps[tag].append(f"{rule.label}: keep_tags '{rule.keep_tags.text}'")
            if rule.keep_younger_than_days is not None and age[tag] < rule.keep_younger_than_days:
                keeps[tag].append(f"{rule.label}: younger than {rule.keep_younger_than_days:g} days")
    protected_repo = policy.protect.repository(repo.name)
    for tag, labels in selected.items():
        if protected_repo:
            marks.kept[tag] = "protected repository"
        elif policy.protect.tag(tag):
            marks.kept[tag] = "protected tag"
        elif keeps.get(tag):
            marks.kept[tag] = keeps[tag][0]
        else:
            marks.deleted[tag] = sorted(set(labels), key=_label_key)
    return marks


def _label_key(label: str) -> tuple[int, str]:
    match = re.match(r"rules\[(\d+)\]", label)
    return (int(match.group(1)) if match else 0, label)


# -- loading ------------------------------------------------------------------------------------


def load_repos(inv: Inventory) -> dict[tuple[str, str], Repo]:
    """Read the selected crawls' tags, manifests, children and referrers into Repo objects."""
    con = inv.connection
    repos: dict[tuple[str, str], Repo] = {}

    def repo(registry: str, name: str) -> Repo:
        key = (registry, name)
        if key not in repos:
            repos[key] = Repo(registry, name)
        return repos[key]

    for row in con.execute(
        "SELECT registry, repository, digest, media_type, kind, tagged, manifest_size, "
        "coalesce(total_size, 0), subject_digest FROM manifests"
    ).fetchall():
        registry, name, digest, media_type, kind, tagged, msize, tsize, subject = row
        repo(registry, name).manifests[digest] = Manifest(digest, media_type, kind, bool(tagged), int(msize or 0), int(tsize or 0), subject)
        if subject:
            repo(registry, name).subjects[digest].add(subject)
            repo(registry, name).referrers[subject].add(digest)

    tags = inv.run_arrow("tags").select(["registry", "repository", "tag", "digest", "created", "first_seen"])
    for row in tags.to_pylist():
        r = repo(row["registry"], row["repository"])
        if REFERRER_TAG_RE.match(row["tag"]):
            r.referrer_tags[row["tag"]] = row["digest"]
            continue
        r.tags[row["tag"]] = row["digest"]
        r.times[row["tag"]] = effective_time(row["created"], row["first_seen"])

    for registry, name, parent, child in con.execute(
        "SELECT DISTINCT p.registry, p.repository, c.digest, c.child_digest "
        "FROM index_children AS c "
        "JOIN manifests AS p ON p.registry = c.registry AND p.digest = c.digest "
        "JOIN manifests AS m ON m.registry = p.registry AND m.repository = p.repository AND m.digest = c.child_digest "
        "ORDER BY 1, 2, 3, 4"
    ).fetchall():
        repo(registry, name).children[parent].append(child)

    fallback_rows = []
    for registry, name, subject, digest, source, tag in con.execute(
        "SELECT registry, repository, subject_digest, digest, source, tag FROM referrers ORDER BY 1, 2, 3, 4"
    ).fetchall():
        r = repo(registry, name)
        r.subjects[digest].add(subject)
        r.referrers[subject].add(digest)
        if source == "tag" and tag:
            match = REFERRER_TAG_RE.match(tag)
            if match and match.group(3):
                r.referrer_tags.setdefault(tag, digest)
            elif match:
                fallback_rows.append((r, tag, digest))
    # The crawler records the OCI referrers fallback tag (sha256-<hex>) on the referrers it
    # lists; the tag itself points at the fallback index that holds them.
    for r, tag, referrer in fallback_rows:
        if tag in r.referrer_tags:
            continue
        for parent, kids in r.children.items():
            if referrer in kids and r.manifests.get(parent) and r.manifests[parent].tagged:
                r.referrer_tags[tag] = parent
                break
    return repos


# -- planning -----------------------------------------------------------------------------------


@dataclass
class Request:
    rule: str
    note: str | None = None


def reachable(repo: Repo, holders: Iterable[str]) -> dict[str, str]:
    """Digests that stay because something that stays holds them, each with the first holder."""
    seen: dict[str, str] = {}
    stack = [(d, d) for d in sorted(holders)]
    while stack:
        digest, holder = stack.pop()
        if digest in seen:
            continue
        seen[digest] = holder
        for child in repo.children.get(digest, ()):
            stack.append((child, digest))
        for subject in sorted(repo.subjects.get(digest, ())):
            if subject in repo.manifests:
                stack.append((subject, digest))
    return seen


def plan_repository(
    policy: Policy, repo: Repo, as_of: dt.datetime, untagged: set[str], dangling: dict[str, str]
) -> tuple[dict[str, Request], list[dict[str, Any]], list[dict[str, Any]]]:
    """(requested deletions, untag actions, kept-but-selected tags) for one repository."""
    marks = mark_tags(policy, repo, as_of)
    by_digest: dict[str, list[str]] = defaultdict(list)
    for tag, digest in repo.tags.items():
        by_digest[digest].append(tag)
    candidates: dict[str, Request] = {}
    untags: list[tuple[str, str, str]] = []  # (tag, digest, why the image stays)
    for digest, tags in sorted(by_digest.items()):
        doomed = sorted(t for t in tags if t in marks.deleted)
        if not doomed:
            continue
        rules = sorted({label for t in doomed for label in marks.deleted[t]}, key=_label_key)
        staying = sorted(t for t in tags if t not in marks.deleted)
        if staying:
            why = f"image kept: tag {staying[0]} stays" + (f" ({marks.kept[staying[0]]})" if staying[0] in marks.kept else "")
            untags += [(t, digest, why) for t in doomed]
        else:
            candidates[digest] = Request(", ".join(rules))
    protected = policy.protect.repository(repo.name)
    requested_extra: dict[str, Request] = {}
    if not protected:
        for digest in sorted(untagged):
            requested_extra.setdefault(digest, Request("untagged"))
        for digest, subject in sorted(dangling.items()):
            requested_extra.setdefault(digest, Request(f"dangling referrer of {subject}"))
    # What stays on its own: a remaining ordinary tag, or an untagged top-level manifest that is
    # not being deleted. Everything those reach stays too.
    held = {c for kids in repo.children.values() for c in kids}
    ordinary = set(repo.tags.values())
    referrer_tagged = set(repo.referrer_tags.values())
    holders = set()
    for digest in repo.manifests:
        if digest in candidates or digest in requested_extra:
            continue
        if digest in ordinary or protected:
            holders.add(digest)
        elif digest not in held and not repo.subjects.get(digest) and digest not in referrer_tagged:
            holders.add(digest)
    reach = reachable(repo, holders)
    for digest in sorted(candidates):
        if digest in reach:
            holder = reach[digest]
            why = f"image kept: held by {holder}" + (" (a kept index)" if digest in repo.children.get(holder, ()) else "")
            untags += [(t, digest, why) for t in sorted(by_digest[digest])]
            del candidates[digest]
    for digest in sorted(requested_extra):
        if digest in reach:
            del requested_extra[digest]
    requested = {**requested_extra, **candidates}
    untag_actions = [
        {"action": "untag", "registry": repo.registry, "repository": repo.name, "digest": digest, "tags": [tag],
         "rule": ", ".join(marks.deleted[tag]), "note": why, "kind": _kind(repo, digest),
         "media_type": _media(repo, digest), "bytes": 0}
        for tag, digest, why in sorted(untags)
    ]
    kept = [
        {"registry": repo.registry, "repository": repo.name, "tag": tag, "digest": repo.tags[tag], "reason": reason}
        for tag, reason in sorted(marks.kept.items())
    ]
    return requested, untag_actions, kept


def _kind(repo: Repo, digest: str) -> str | None:
    m = repo.manifests.get(digest)
    return m.kind if m else None


def _media(repo: Repo, digest: str) -> str | None:
    m = repo.manifests.get(digest)
    return m.media_type if m else None


def copy_actions(policy: Policy, repos: dict[tuple[str, str], Repo]) -> list[dict[str, Any]]:
    """One ``copy`` action per source digest and destination, with every matching tag."""
    grouped: dict[tuple[str, str, str, str, str], dict[str, Any]] = {}
    for (registry, name), repo in sorted(repos.items()):
        for rule in policy.copies:
            if not rule.applies_to(registry, name):
                continue
            for tag, digest in sorted(repo.tags.items()):
                if not rule.selects(tag):
                    continue
                key = (registry, name, digest, rule.destination, rule.target(name))
                action = grouped.setdefault(key, {
                    "action": "copy", "registry": registry, "repository": name, "digest": digest, "tags": [],
                    "rule": rule.label, "destination_registry": rule.destination,
                    "destination_repository": rule.target(name), "kind": _kind(repo, digest),
                    "media_type": _media(repo, digest),
                    "bytes": _size(repo, digest),
                })
                if tag not in action["tags"]:
                    action["tags"].append(tag)
    return [grouped[k] for k in sorted(grouped)]


def _size(repo: Repo, digest: str) -> int:
    m = repo.manifests.get(digest)
    return (m.total_size + m.manifest_size) if m else 0


def make_plan(
    inv: Inventory,
    policy: Policy,
    *,
    as_of: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The plan (unsealed) for the selected crawls of an opened inventory."""
    if not inv.crawls:
        raise PlanError("the snapshot holds no committed crawl to plan from")
    crawl_start = {c["registry"]: _utc(c["started"]) for c in inv.crawls}
    repos = load_repos(inv)
    untagged: dict[tuple[str, str], set[str]] = defaultdict(set)
    if policy.untagged:
        for row in inv.run_arrow("untagged").select(["registry", "repository", "digest"]).to_pylist():
            untagged[(row["registry"], row["repository"])].add(row["digest"])
    dangling: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    if policy.dangling_referrers:
        for row in inv.run_arrow("dangling_referrers").select(["registry", "repository", "digest", "subject_digest"]).to_pylist():
            dangling[(row["registry"], row["repository"])].setdefault(row["digest"], row["subject_digest"])

    requested: dict[tuple[str, str, str], Request] = {}
    untag_actions: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []
    for key in sorted(repos):
        repo = repos[key]
        reference_time = as_of or crawl_start.get(repo.registry) or dt.datetime.now(dt.timezone.utc)
        wanted, untags, keeps = plan_repository(policy, repo, reference_time, untagged.get(key, set()), dangling.get(key, {}))
        requested.update({(repo.registry, repo.name, d): r for d, r in wanted.items()})
        untag_actions += untags
        kept += keeps

    closure, warnings = expand(inv, repos, requested, policy)
    deletes = delete_actions(repos, closure)
    copies = copy_actions(policy, repos)
    actions = _number([*copies, *_by_repository(untag_actions, deletes)])
    total, per_repository = attribute_bytes(inv, actions)
    crawls = sorted(inv.crawls, key=lambda c: (_utc(c["started"]), c["registry"]))
    oldest = crawls[0]
    deleted_tags = sum(len(a["tags"]) for a in actions if a["action"] in ("delete", "untag"))
    rules = {r.label: r.describe() for r in policy.rules}
    rules.update({c.label: f"copy '{c.repositories.text}' to {c.destination}/{c.destination_repository}" for c in policy.copies})
    return {
        "plan_version": PLAN_VERSION,
        "tool_version": __version__,
        "created": format_time(now or dt.datetime.now(dt.timezone.utc)),
        "crawl_id": oldest["crawl_id"],
        "crawl_started": format_time(_utc(oldest["started"])),
        "crawls": [
            {"registry": c["registry"], "crawl_id": c["crawl_id"], "started": format_time(_utc(c["started"])),
             "status": c.get("status")}
            for c in sorted(inv.crawls, key=lambda c: c["registry"])
        ],
        "registries": sorted(crawl_start),
        "as_of": format_time(as_of) if as_of else None,
        "policy": policy.describe(),
        "rules": rules,
        "options": {"untagged": policy.untagged, "dangling_referrers": policy.dangling_referrers,
                    "delete_referrers": policy.delete_referrers,
                    "protect_tags": policy.protect.tags.text if policy.protect.tags else None,
                    "protect_repositories": policy.protect.repositories.text if policy.protect.repositories else None},
        "counts": {
            "delete": sum(a["action"] == "delete" for a in actions),
            "untag": sum(a["action"] == "untag" for a in actions),
            "copy": sum(a["action"] == "copy" for a in actions),
            "tags_removed": deleted_tags,
            "kept_selected": len(kept),
        },
        "reclaimable_bytes": total,
        "reclaimable": per_repository,
        "actions": actions,
        "kept": kept,
        "warnings": warnings,
    }


def _utc(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


# -- the cascade --------------------------------------------------------------------------------


@dataclass
class Deletion:
    registry: str
    repository: str
    digest: str
    reason: str  # requested | index child | referrer
    cause: str | None
    rule: str


def expand(
    inv: Inventory,
    repos: dict[tuple[str, str], Repo],
    requested: dict[tuple[str, str, str], Request],
    policy: Policy,
) -> tuple[dict[tuple[str, str, str], Deletion], list[str]]:
    """The requested deletions with everything distribution needs deleted with them."""
    warnings: list[str] = []
    wanted = dict(requested)
    extra_cause: dict[tuple[str, str, str], str] = {}
    closure: dict[tuple[str, str, str], Deletion] = {}
    for _ in range(MAX_ROUNDS):
        rows = _cascade(inv, sorted(wanted)) if wanted else []
        closure = {}
        for row in rows:
            key = (row["registry"], row["repository"], row["digest"])
            if not row["present"]:
                continue
            if key in wanted and key not in extra_cause:
                closure[key] = Deletion(*key, "requested", None, wanted[key].rule)
            elif key in extra_cause:
                closure[key] = Deletion(*key, "referrer", extra_cause[key], f"referrer of {extra_cause[key]}")
            else:
                reason, cause = row["reason"], row["cause"]
                rule = f"child of {cause}" if reason == "index child" else f"referrer of {cause}"
                closure[key] = Deletion(*key, reason, cause, rule)
        if not policy.delete_referrers:
            closure = _without_referrers(closure)
            break
        added = False
        for (registry, name, digest) in sorted(closure):
            repo = repos.get((registry, name))
            if repo is None:
                continue
            for _tag, target in repo.referrer_tags_of(digest):
                key = (registry, name, target)
                if key not in closure and key not in wanted:
                    wanted[key] = Request(f"referrer of {digest}")
                    extra_cause[key] = digest
                    added = True
        if not added:
            break
    else:  # pragma: no cover - content addressing makes the graph acyclic
        raise PlanError(f"the deletion cascade did not settle after {MAX_ROUNDS} rounds")
    # Nothing that stays may lose what it holds: checked again after the cascade (a guard; the
    # candidates were already filtered and the cascade only adds children nothing else holds).
    parents: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for (registry, name), repo in repos.items():
        for parent, kids in repo.children.items():
            for kid in kids:
                parents[(registry, name, kid)].append(parent)
    for key in sorted(closure):
        registry, name, digest = key
        for parent in parents.get(key, ()):
            if (registry, name, parent) not in closure:
                warnings.append(f"{registry}/{name}@{digest}: not deleted: held by index {parent}, which stays")
                closure.pop(key, None)
                break
    return closure, warnings


def _without_referrers(closure: dict[tuple[str, str, str], Deletion]) -> dict[tuple[str, str, str], Deletion]:
    """``delete_referrers = false``: keep the requested rows and the children they drag along."""
    kept = {k: v for k, v in closure.items() if v.reason == "requested"}
    changed = True
    while changed:
        changed = False
        for key, row in closure.items():
            if key not in kept and row.reason == "index child" and (key[0], key[1], row.cause) in kept:
                kept[key] = row
                changed = True
    return kept


def _cascade(inv: Inventory, keys: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    table = pa.Table.from_pylist(
        [{"registry": r, "repository": n, "digest": d} for r, n, d in keys],
        schema=pa.schema([("registry", pa.string()), ("repository", pa.string()), ("digest", pa.string())]),
    )
    return inv.run_arrow("cascade", deletions=table, expand=True).to_pylist()


# -- actions ------------------------------------------------------------------------------------


def delete_actions(repos: dict[tuple[str, str], Repo], closure: dict[tuple[str, str, str], Deletion]) -> list[dict[str, Any]]:
    """Delete actions in dependency order, with ``group`` roots and ``after`` edges as keys."""
    by_repo: dict[tuple[str, str], list[str]] = defaultdict(list)
    for registry, name, digest in closure:
        by_repo[(registry, name)].append(digest)
    actions: list[dict[str, Any]] = []
    for key in sorted(by_repo):
        repo = repos[key]
        digests = set(by_repo[key])
        before: dict[str, set[str]] = defaultdict(set)  # digest -> digests that must go first
        for digest in digests:
            for child in repo.children.get(digest, ()):
                if child in digests and child != digest:
                    before[child].add(digest)  # an index before its children
        for digest in digests:
            for subject in repo.subjects.get(digest, ()):
                if subject in digests and subject != digest and digest not in _descendants(repo, subject):
                    before[subject].add(digest)  # referrers before their subject
        # fallback indexes (tagged sha256-<hex>) before their subject
        for subject in digests:
            for _tag, target in repo.referrer_tags_of(subject):
                if target in digests and target != subject:
                    before[subject].add(target)
        order = _topological(digests, before)
        groups = _components(digests, before)
        for digest in order:
            row = closure[(key[0], key[1], digest)]
            manifest = repo.manifests.get(digest)
            actions.append({
                "action": "delete", "registry": key[0], "repository": key[1], "digest": digest,
                "tags": repo.tags_of(digest), "rule": row.rule, "reason": row.reason,
                "kind": manifest.kind if manifest else None,
                "media_type": manifest.media_type if manifest else None, "bytes": 0,
                "_group": groups[digest], "_after": sorted(before.get(digest, ())),
            })
    return actions


def _descendants(repo: Repo, digest: str) -> set[str]:
    out: set[str] = set()
    stack = list(repo.children.get(digest, ()))
    while stack:
        d = stack.pop()
        if d not in out:
            out.add(d)
            stack.extend(repo.children.get(d, ()))
    return out


def _topological(digests: set[str], before: dict[str, set[str]]) -> list[str]:
    """Kahn's order, depth first so that a group's actions stay together; ties by digest."""
    waiting = {d: len(set(before.get(d, ())) & digests) for d in digests}
    dependents: dict[str, list[str]] = defaultdict(list)
    for digest in digests:
        for dep in set(before.get(digest, ())) & digests:
            dependents[dep].append(digest)
    order: list[str] = []
    ready = deque(sorted(d for d, n in waiting.items() if n == 0))
    while ready:
        digest = ready.popleft()
        order.append(digest)
        released = []
        for other in dependents.get(digest, ()):
            waiting[other] -= 1
            if waiting[other] == 0:
                released.append(other)
        ready.extendleft(sorted(released, reverse=True))
    if len(order) != len(digests):  # a cycle (an index holding a referrer of itself): break it
        placed = set(order)
        order += sorted(d for d in digests if d not in placed)
    return order


def _components(digests: set[str], before: dict[str, set[str]]) -> dict[str, str]:
    parent = {d: d for d in digests}

    def find(d: str) -> str:
        while parent[d] != d:
            parent[d] = parent[parent[d]]
            d = parent[d]
        return d

    for digest, deps in before.items():
        for dep in deps:
            if dep in parent and digest in parent:
                a, b = find(dep), find(digest)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    return {d: find(d) for d in digests}


def _by_repository(untags: list[dict[str, Any]], deletes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per registry and repository: the untags, then the delete groups (kept in their order)."""
    keys = sorted({(a["registry"], a["repository"]) for a in untags + deletes})
    out: list[dict[str, Any]] = []
    for key in keys:
        out += [a for a in untags if (a["registry"], a["repository"]) == key]
        out += [a for a in deletes if (a["registry"], a["repository"]) == key]
    return out


def _number(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give ids (1..n), turn group roots and ``after`` digests into ids."""
    ids: dict[tuple[str, str, str], int] = {}
    for number, action in enumerate(actions, start=1):
        action["id"] = number
        if action["action"] == "delete":
            ids[(action["registry"], action["repository"], action["digest"])] = number
    first_of_group: dict[tuple[str, str, str], int] = {}
    for action in actions:
        if action["action"] != "delete":
            action["group"] = action["id"]
            action["after"] = []
            continue
        group_key = (action["registry"], action["repository"], action.pop("_group"))
        first_of_group.setdefault(group_key, action["id"])
        action["group"] = first_of_group[group_key]
        action["after"] = sorted(ids[(action["registry"], action["repository"], d)] for d in action.pop("_after"))
    return actions


def attribute_bytes(inv: Inventory, actions: list[dict[str, Any]]) -> tuple[int, list[dict[str, Any]]]:
    """``reclaimable`` over the delete actions; each freed blob goes to the first action using it."""
    deletes = [a for a in actions if a["action"] == "delete"]
    if not deletes:
        return 0, []
    table = pa.Table.from_pylist(
        [{"registry": a["registry"], "repository": a["repository"], "digest": a["digest"]} for a in deletes],
        schema=pa.schema([("registry", pa.string()), ("repository", pa.string()), ("digest", pa.string())]),
    )
    freed = inv.run_arrow("reclaimable", deletions=table, expand=False, by="blob").to_pylist()
    size = {(r["registry"], r["digest"]): int(r["size"] or 0) for r in freed}
    # by="repository" of the same query, summed here rather than run a second time
    per_repo: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in freed:
        for repository in row["repositories"] or ():
            per_repo[(row["registry"], repository)][0] += 1
            per_repo[(row["registry"], repository)][1] += int(row["size"] or 0)
    con = inv.connection
    con.register("_plan_deletes", table)
    try:
        refs = con.execute(
            "SELECT DISTINCT r.registry, r.repository, r.digest, r.blob_digest FROM blob_refs AS r "
            "SEMI JOIN _plan_deletes AS d ON d.registry = r.registry AND d.repository = r.repository "
            "AND d.digest = r.digest"
        ).fetchall()
    finally:
        con.unregister("_plan_deletes")
    users: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for registry, name, digest, blob in refs:
        users[(registry, name, digest)].append(blob)
    claimed: set[tuple[str, str]] = set()
    for action in deletes:
        total = 0
        for blob in sorted(users.get((action["registry"], action["repository"], action["digest"]), ())):
            key = (action["registry"], blob)
            if key in size and key not in claimed:
                claimed.add(key)
                total += size[key]
        action["bytes"] = total
    reclaimable = [
        {"registry": registry, "repository": repository, "blobs": blobs, "bytes": total}
        for (registry, repository), (blobs, total) in sorted(per_repo.items(), key=lambda kv: (kv[0][0], -kv[1][1], kv[0][1]))
    ]
    return sum(size.values()), reclaimable
