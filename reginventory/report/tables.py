"""The report's tables: which query each comes from, its columns, and how a cell is formatted.

A :class:`TableSpec` turns the first rows of an Arrow query result into a
:class:`~reginventory.report.model.Table` of formatted :class:`~reginventory.report.model.Cell`
objects. The page shows at most ``limit`` rows, chosen by ``order`` (largest first, mostly); the
full result goes to a CSV file next to the report when the page shows only part of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import pyarrow as pa
import pyarrow.compute as pc

from reginventory.report.format import (
    exact_bytes,
    human_bytes,
    human_count,
    iso_time,
    percent,
    short_digest,
)
from reginventory.report.model import Cell, Column, Row, Table

#: List values show this many items in a cell; the rest are counted ("+12 more").
LIST_ITEMS = 6
#: Items of a list value kept in its tooltip.
TITLE_ITEMS = 40


@dataclass(frozen=True)
class ColumnSpec:
    key: str
    label: str
    fmt: str = "text"  # text | code | repo | digest | digests | bytes | count | time | list | bool | pct | map
    help: str = ""

    @property
    def numeric(self) -> bool:
        return self.fmt in ("bytes", "count", "pct")


@dataclass(frozen=True)
class TableSpec:
    id: str
    title: str
    query: str
    description: str
    columns: tuple[ColumnSpec, ...]
    order: tuple[tuple[str, str], ...] = ()  # arrow sort keys for the rows the page shows
    order_text: str = ""
    empty: str = "Nothing found."
    csv_drop: tuple[str, ...] = ()  # columns the CSV file leaves out (derivable, and big)


def registry_column(specs: tuple[ColumnSpec, ...], multi_registry: bool) -> tuple[ColumnSpec, ...]:
    """Show a registry column only when the report covers more than one registry."""
    if not multi_registry:
        return specs
    return (ColumnSpec("registry", "Registry", "code"), *specs)


class CellFormatter:
    """Formats values into cells; knows the same-page anchor of each repository."""

    def __init__(self, anchors: Mapping[tuple[str, str], str]) -> None:
        self.anchors = anchors

    def cell(self, spec: ColumnSpec, row: Mapping[str, Any]) -> Cell:
        value = row.get(spec.key)
        fmt = spec.fmt
        if fmt == "repo":
            anchor = self.anchors.get((row.get("registry", ""), value or ""), "")
            return Cell(text=value or "–", sort=value or "", href=f"#{anchor}" if anchor else "", kind="code")
        if value is None and fmt not in ("list", "digests", "map"):
            return Cell(text="–", sort=-1 if spec.numeric else "", kind="muted num" if spec.numeric else "muted")
        if fmt == "bytes":
            return Cell(text=human_bytes(value), sort=int(value), title=exact_bytes(value), kind="num")
        if fmt == "count":
            return Cell(text=human_count(value), sort=value, kind="num")
        if fmt == "pct":
            return Cell(text=percent(value), sort=float(value), kind="num")
        if fmt == "time":
            text = iso_time(value)
            return Cell(text=text, sort=text)
        if fmt == "digest":
            # The full digest is the tooltip, which the page's script also sorts by.
            return Cell(text=short_digest(value), sort=short_digest(value), title=value, kind="code")
        if fmt == "bool":
            return Cell(text="yes" if value else "no", sort=int(bool(value)))
        if fmt in ("list", "digests", "map"):
            if fmt == "map":
                items = [f"{k}={v}" for k, v in sorted(_pairs(value))]
            else:
                items = [str(v) for v in (value or [])]
            shown = [short_digest(i) for i in items] if fmt == "digests" else items
            title = "\n".join(items[:TITLE_ITEMS]) + (f"\n… {len(items) - TITLE_ITEMS} more" if len(items) > TITLE_ITEMS else "")
            return Cell(
                text=", ".join(shown[:LIST_ITEMS]) + (f" (+{len(items) - LIST_ITEMS} more)" if len(items) > LIST_ITEMS else ""),
                sort=len(items) if fmt != "map" else ", ".join(items),
                title=title if (len(items) > LIST_ITEMS or fmt == "digests") else "",
                kind="list code" if fmt != "map" else "list",
                items=tuple(shown[:LIST_ITEMS]),
                more=max(0, len(items) - LIST_ITEMS),
            )
        if fmt == "code":
            return Cell(text=str(value), sort=str(value), kind="code")
        return Cell(text=str(value), sort=str(value))


def _pairs(value: Any) -> list[tuple[str, str]]:
    """A DuckDB/Arrow MAP as (key, value) pairs: Arrow gives a list of tuples, pandas a dict."""
    if not value:
        return []
    if isinstance(value, dict):
        return [(str(k), str(v)) for k, v in value.items()]
    return [(str(k), str(v)) for k, v in value]


def top_rows(data: pa.Table, order: tuple[tuple[str, str], ...], limit: int) -> pa.Table:
    """The first ``limit`` rows in ``order``; a partial selection, not a sort of everything."""
    if not order or data.num_rows == 0:
        return data.slice(0, limit)
    if data.num_rows > limit * 4:
        indices = pc.select_k_unstable(data, k=limit, sort_keys=list(order))
        data = data.take(indices)
    return data.sort_by(list(order)).slice(0, limit)


def build_table(
    spec: TableSpec,
    data: pa.Table,
    formatter: CellFormatter,
    *,
    limit: int,
    multi_registry: bool,
    csv_href: str = "",
    page_size: int = 25,
    extra: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
    extra_columns: tuple[ColumnSpec, ...] = (),
    description: str | None = None,
) -> Table:
    """The first ``limit`` rows of a query result (in ``spec.order``) as a page table."""
    # A column the query no longer returns is left out rather than shown empty.
    present = set(data.column_names)
    columns = registry_column(
        tuple(c for c in spec.columns if c.key in present) + extra_columns,
        multi_registry,
    )
    head = top_rows(data, spec.order, limit).to_pylist()
    rows = []
    for record in head:
        if extra is not None:
            record = {**record, **extra(record)}
        rows.append(Row(cells=tuple(formatter.cell(c, record) for c in columns)))
    return Table(
        id=spec.id,
        title=spec.title,
        description=spec.description if description is None else description,
        columns=tuple(Column(c.key, c.label, c.numeric, c.help) for c in columns),
        rows=tuple(rows),
        total=data.num_rows,
        order=spec.order_text if data.num_rows > limit else "",
        csv=csv_href if data.num_rows > limit else "",
        empty=spec.empty,
        page_size=page_size,
        query=spec.query,
    )


# ---------------------------------------------------------------------------------- the tables

REPOSITORIES = TableSpec(
    id="repositories",
    title="Repositories",
    query="repo_sizes",
    description=(
        "Bytes are those of the distinct blobs each repository's manifests reference; unique bytes "
        "are referenced by no other repository, so deleting the whole repository would free them."
    ),
    columns=(
        ColumnSpec("repository", "Repository", "repo"),
        ColumnSpec("tags", "Tags", "count"),
        ColumnSpec("images", "Images", "count", "distinct digests its tags point at"),
        ColumnSpec("manifests", "Manifests", "count", "manifest revisions present"),
        ColumnSpec("size", "Size", "bytes"),
        ColumnSpec("unique_size", "Unique", "bytes", "referenced by no other repository"),
        ColumnSpec("shared_size", "Shared", "bytes", "also referenced by another repository"),
    ),
    order=(("size", "descending"), ("registry", "ascending"), ("repository", "ascending")),
    order_text="largest first",
    empty="No repositories.",
)
REPOSITORY_EXTRA = (
    ColumnSpec("stale", "Stale tags", "count"),
    ColumnSpec("untagged", "Untagged", "count"),
    ColumnSpec("reclaimable", "Reclaimable", "bytes", "bytes freed in this repository under the policy"),
)

CHANGES = TableSpec(
    id="changes",
    title="Changes since the previous crawl",
    query="growth",
    description="Repositories whose tags or bytes changed between the previous crawl and this one.",
    columns=(
        ColumnSpec("repository", "Repository", "repo"),
        ColumnSpec("tags_added", "Tags added", "count"),
        ColumnSpec("tags_removed", "Tags removed", "count"),
        ColumnSpec("tags_moved", "Tags moved", "count", "tags that now point at another digest"),
        ColumnSpec("size_added", "Bytes added", "bytes"),
        ColumnSpec("size_removed", "Bytes removed", "bytes"),
        ColumnSpec("size_after", "Size now", "bytes"),
    ),
    order=(("churn", "descending"), ("registry", "ascending"), ("repository", "ascending")),
    order_text="most bytes added or removed first",
    empty="No repository changed since the previous crawl.",
)

DUPLICATES = TableSpec(
    id="duplicates",
    title="Duplicates",
    query="duplicates",
    description=(
        "Groups of tags that point at one digest (match: digest), and different tagged images with "
        "identical layers (match: layers, a rebuild that differs only in its config)."
    ),
    columns=(
        ColumnSpec("match", "Match"),
        ColumnSpec("tags", "Tags", "list"),
        ColumnSpec("digests", "Digests", "digests"),
        ColumnSpec("repositories", "Repositories", "count"),
        ColumnSpec("tag_count", "Tag count", "count"),
        ColumnSpec("layer_count", "Layers", "count"),
        ColumnSpec("size", "Size", "bytes", "one image of the group (the largest)"),
    ),
    order=(("size", "descending"), ("tag_count", "descending")),
    order_text="largest first",
    empty="No duplicates.",
)

STALE_TAGS = TableSpec(
    id="stale_tags",
    title="Stale tags",
    query="stale_tags",
    description=(
        "Tags whose image is older than 90 days, outside the newest 3 tags of their repository, and "
        "not 'latest' (the stale_tags query defaults; ages at the crawl's start). Kept tags point at "
        "the same digest but are not stale: such a digest would only be untagged."
    ),
    columns=(
        ColumnSpec("repository", "Repository", "repo"),
        ColumnSpec("tag", "Tag", "code"),
        ColumnSpec("digest", "Digest", "digest"),
        ColumnSpec("created", "Created", "time"),
        ColumnSpec("age_days", "Age (days)", "count"),
        ColumnSpec("size", "Size", "bytes"),
        ColumnSpec("kept_tags", "Kept tags", "list"),
    ),
    order=(("size", "descending"), ("registry", "ascending"), ("repository", "ascending"), ("tag", "ascending")),
    order_text="largest first",
    empty="No stale tags.",
    # The reason is the same sentence for every row, from age_days, newest_rank and the
    # parameters the page states; at a million stale tags it would double the file.
    csv_drop=("reason",),
)

SHARED_LAYERS = TableSpec(
    id="shared_layers",
    title="Shared layers",
    query="shared_layers",
    description=(
        "Layers that more than one image or repository uses. The registry stores each once: saved "
        "is what one copy per image would cost on top."
    ),
    columns=(
        ColumnSpec("digest", "Layer", "digest"),
        ColumnSpec("size", "Size", "bytes"),
        ColumnSpec("images", "Images", "count"),
        ColumnSpec("repositories", "Repositories", "count"),
        ColumnSpec("saved_size", "Saved", "bytes"),
        ColumnSpec("foreign", "Foreign", "bool", "not stored by the registry"),
    ),
    order=(("saved_size", "descending"), ("digest", "ascending")),
    order_text="most bytes saved first",
    empty="No shared layers.",
)

BASE_IMAGES = TableSpec(
    id="base_images",
    title="Base images",
    query="base_images",
    description=(
        "Images whose layers are a prefix of other images' layers, with what builds on them; the "
        "parent is the base of the base."
    ),
    columns=(
        ColumnSpec("digest", "Base image", "digest"),
        ColumnSpec("tags", "Tags", "list"),
        ColumnSpec("layer_count", "Layers", "count"),
        ColumnSpec("size", "Size", "bytes"),
        ColumnSpec("parent_digest", "Parent", "digest"),
        ColumnSpec("derived_images", "Derived images", "count"),
        ColumnSpec("derived_repositories", "Derived repositories", "count"),
    ),
    order=(("derived_images", "descending"), ("digest", "ascending")),
    order_text="most derived images first",
    empty="No base images.",
)

UNTAGGED = TableSpec(
    id="untagged",
    title="Untagged manifests",
    query="untagged",
    description=(
        "Manifests that no tag points at and no index or subject holds. They keep their blobs "
        "through garbage collection until deleted by digest."
    ),
    columns=(
        ColumnSpec("repository", "Repository", "repo"),
        ColumnSpec("digest", "Digest", "digest"),
        ColumnSpec("kind", "Kind"),
        ColumnSpec("created", "Created", "time"),
        ColumnSpec("size", "Size", "bytes"),
        ColumnSpec("reason", "Reason"),
        ColumnSpec("previous_tags", "Previous tags", "list"),
    ),
    order=(("size", "descending"), ("registry", "ascending"), ("repository", "ascending"), ("digest", "ascending")),
    order_text="largest first",
    empty="No untagged manifests.",
)

DANGLING_REFERRERS = TableSpec(
    id="dangling_referrers",
    title="Dangling referrers",
    query="dangling_referrers",
    description="Signatures, attestations and SBOMs whose subject is gone: they protect nothing and keep their blobs.",
    columns=(
        ColumnSpec("repository", "Repository", "repo"),
        ColumnSpec("digest", "Referrer", "digest"),
        ColumnSpec("kind", "Kind"),
        ColumnSpec("artifact_type", "Artifact type", "code"),
        ColumnSpec("subject_digest", "Missing subject", "digest"),
        ColumnSpec("source", "Found by"),
        ColumnSpec("tag", "Tag", "code"),
        ColumnSpec("size", "Size", "bytes"),
    ),
    order=(("size", "descending"), ("registry", "ascending"), ("repository", "ascending"), ("digest", "ascending")),
    order_text="largest first",
    empty="No dangling referrers.",
)

ERRORS = TableSpec(
    id="errors",
    title="Errors of the crawl",
    query="crawl_errors",
    description="What the crawler could not read. A crawl with errors is partial: its figures may miss what it skipped.",
    columns=(
        ColumnSpec("repository", "Repository", "repo"),
        ColumnSpec("reference", "Reference", "code"),
        ColumnSpec("stage", "Stage"),
        ColumnSpec("error_type", "Error"),
        ColumnSpec("status", "HTTP", "count"),
        ColumnSpec("message", "Message"),
    ),
    order_text="in crawl order",
    empty="The crawl recorded no errors.",
)

REPOSITORY_TAGS = TableSpec(
    id="tags",
    title="Newest tags",
    query="repository_tags",
    description="",
    columns=(
        ColumnSpec("tag", "Tag", "code"),
        ColumnSpec("digest", "Digest", "digest"),
        ColumnSpec("kind", "Kind"),
        ColumnSpec("created", "Created", "time"),
        ColumnSpec("size", "Size", "bytes"),
        ColumnSpec("platforms", "Platforms", "list"),
        ColumnSpec("labels", "Labels", "map"),
        ColumnSpec("annotations", "Annotations", "map"),
    ),
    empty="No tags.",
)

#: The finding tables, in page order (after repositories and changes).
FINDINGS = (DUPLICATES, STALE_TAGS, SHARED_LAYERS, BASE_IMAGES, UNTAGGED, DANGLING_REFERRERS, ERRORS)
