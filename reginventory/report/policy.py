"""Bytes reclaimable: under the report's default policy, or under a policy file via the planner.

The default policy (used when no ``--policy`` is given) deletes

- every untagged manifest (the ``untagged`` query), and
- the manifest of every stale tag (the ``stale_tags`` query with its defaults: older than 90
  days, outside the newest 3 tags of its repository, not ``latest``; ages measured at the start
  of the crawl) when every tag pointing at that manifest is stale. A manifest that still has a
  tag that is not stale would only be untagged, which frees nothing.

The ``reclaimable`` query expands that set by the cascade (children of deleted indexes that
nothing else holds, referrers of deleted subjects) and sums the blobs garbage collection frees.

With a policy file, :func:`reclaimable_for_policy` asks the planner (``reginventory.plan``).
All coupling to the planner sits in :func:`_plan_for_policy`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from reginventory.analysis import Inventory
from reginventory.errors import ConfigError

DEFAULT_POLICY_NOTE = (
    "Reclaimable bytes are computed under the report's default policy: delete the untagged "
    "manifests, and the manifests of stale tags (the stale_tags query defaults: older than 90 "
    "days, outside the newest 3 tags of their repository, not 'latest'; ages measured at the "
    "crawl's start) whose every tag is stale; the deletion cascade adds index children and "
    "referrers; garbage collection then frees the blobs that no remaining manifest references."
)
DELETION_COLUMNS = ("registry", "repository", "digest")


@dataclass(frozen=True)
class Reclaimable:
    """What a deletion set frees: total bytes and blobs, and bytes per repository."""

    size: int
    blobs: int
    per_repository: dict[tuple[str, str], int] = field(default_factory=dict)
    note: str = DEFAULT_POLICY_NOTE
    policy: str = ""  # the policy file, or "" for the default policy


def default_deletions(untagged: pa.Table, stale: pa.Table) -> pa.Table:
    """The default policy's deletion set: untagged manifests, and manifests whose every tag is stale.

    A manifest with several stale tags is listed once per tag: a deletion set is a set, and
    loading it (:func:`reginventory.analysis.expand_deletions`) drops the repeats.
    """
    parts = [untagged.select(list(DELETION_COLUMNS))]
    if stale.num_rows:
        lengths = pc.list_value_length(stale.column("kept_tags"))
        # the three columns first: filtering every column of stale_tags costs more than the rest
        whole = stale.select(list(DELETION_COLUMNS)).filter(pc.equal(pc.fill_null(lengths, 0), 0))
        parts.append(whole)
    schema = pa.schema([(c, pa.string()) for c in DELETION_COLUMNS])
    return pa.concat_tables([p.cast(schema) for p in parts])


def reclaimable_of(inventory: Inventory, deletions: pa.Table, *, note: str = DEFAULT_POLICY_NOTE) -> Reclaimable:
    """``reclaimable`` per registry (the totals) and per repository; the cascade runs once.

    Per blob would name every freed blob (millions at scale) only to sum them here.
    """
    if deletions.num_rows == 0:
        return Reclaimable(0, 0, {}, note)
    totals = inventory.run_arrow("reclaimable", deletions=deletions, by="registry")
    repositories = inventory.run_arrow("reclaimable", deletions=deletions, by="repository")
    total = int(pc.sum(totals.column("size")).as_py() or 0) if totals.num_rows else 0
    blobs = int(pc.sum(totals.column("blobs")).as_py() or 0) if totals.num_rows else 0
    per_repository = {
        (row["registry"], row["repository"]): int(row["size"] or 0)
        for row in repositories.select(["registry", "repository", "size"]).to_pylist()
    }
    return Reclaimable(total, blobs, per_repository, note)


def policy_reclaimable(inventory: Inventory, policy_path: str | Path) -> Reclaimable:
    """Reclaimable bytes of the plan the planner makes from a policy file."""
    plan = _plan_for_policy(inventory, policy_path)
    per_repository: dict[tuple[str, str], int] = {}
    for entry in _get(plan, "reclaimable") or []:
        key = (str(_get(entry, "registry")), str(_get(entry, "repository")))
        per_repository[key] = per_repository.get(key, 0) + int(_get(entry, "bytes") or 0)
    blobs = sum(int(_get(e, "blobs") or 0) for e in _get(plan, "reclaimable") or [])
    described = _get(plan, "policy") or str(policy_path)
    note = (
        f"Reclaimable bytes are those of the plan that the policy {Path(policy_path).name} gives "
        f"({described}): garbage collection frees the blobs that its deletions leave unreferenced."
    )
    return Reclaimable(
        size=int(_get(plan, "reclaimable_bytes") or 0), blobs=blobs,
        per_repository=per_repository, note=note, policy=str(policy_path),
    )


def reclaimable_for_policy(inventory: Inventory, policy_path: str | Path | None) -> int:
    """Bytes garbage collection frees under a policy file (``None``: the report's default policy).

    This is the hook between reports and plans: the planner's answer when ``reginventory.plan``
    can plan from a policy, else the default policy (see the module docstring).
    """
    if policy_path is None:
        untagged = inventory.run_arrow("untagged")
        stale = inventory.run_arrow("stale_tags", **stale_params(inventory))
        return reclaimable_of(inventory, default_deletions(untagged, stale)).size
    return policy_reclaimable(inventory, policy_path).size


def stale_params(inventory: Inventory) -> dict[str, Any]:
    """The stale_tags parameters the report uses: the query's defaults, ages at the crawl's start."""
    return {"as_of": crawl_time(inventory)}


def crawl_time(inventory: Inventory) -> Any:
    """The start of the newest selected crawl: the time the report describes."""
    return max(c["started"] for c in inventory.crawls)


def _plan_for_policy(inventory: Inventory, policy_path: str | Path) -> Any:
    """The planner's plan for a policy file: the only place that knows the planner's API.

    ``reginventory.plan.plan_from_policy(inventory, path)`` when it exists, else
    ``make_plan(inventory, load_policy(path))``. Either returns a plan with ``reclaimable_bytes``,
    ``reclaimable`` (per repository: ``registry``, ``repository``, ``blobs``, ``bytes``),
    ``actions`` and ``policy`` (a description), as a dict or attributes.
    """
    if not Path(policy_path).is_file():
        raise ConfigError(f"no policy file {policy_path}")
    try:
        import reginventory.plan as plan_module
    except ImportError as exc:
        raise ConfigError(f"--policy needs the planner (reginventory.plan), which is not available: {exc}") from exc
    plan_from_policy = getattr(plan_module, "plan_from_policy", None)
    if plan_from_policy is not None:
        return plan_from_policy(inventory, policy_path)
    load_policy = getattr(plan_module, "load_policy", None)
    make_plan = getattr(plan_module, "make_plan", None)
    if load_policy is None or make_plan is None:
        raise ConfigError("--policy needs reginventory.plan.plan_from_policy (or load_policy and make_plan)")
    return make_plan(inventory, load_policy(policy_path))


def _get(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        return value.get(key)
    return getattr(value, key, None)
