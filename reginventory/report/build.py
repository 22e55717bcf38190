"""From an opened inventory to the report's view model, in two steps.

1. :func:`collect` runs each query once (the ``queries/`` catalog, plus the report's own small
   queries in ``reginventory/report/queries/``) and keeps the Arrow results: a
   :class:`ReportData`, which also feeds the CSV files of cut tables.
2. :func:`build` turns a ReportData into a :class:`~reginventory.report.model.Report` of plain,
   formatted objects: headline figures, charts, tables, per-repository sections.

Rendering (:mod:`reginventory.report.render`) only reads the Report.
"""

from __future__ import annotations

import datetime as dt
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from reginventory import __version__
from reginventory.analysis import Catalog, Inventory
from reginventory.inventory import schema
from reginventory.report import charts
from reginventory.report.format import (
    exact_bytes,
    human_bytes,
    human_count,
    human_duration,
    iso_date,
    iso_time,
    percent,
    plural,
    signed_bytes,
    signed_count,
    slug,
    utc,
)
from reginventory.report.model import (
    CrawlInfo,
    Figure,
    Link,
    RepoSection,
    Report,
    Table,
)
from reginventory.report.policy import (
    Reclaimable,
    crawl_time,
    default_deletions,
    policy_reclaimable,
    reclaimable_of,
    stale_params,
)
from reginventory.report import tables as T
from reginventory.report.thresholds import Threshold, check

#: The report's own queries (headline totals per crawl, ages, errors, newest tags with labels).
REPORT_QUERIES = Path(__file__).with_name("queries")
#: Rows of a finding table the HTML page holds; the full result goes to a CSV file.
MAX_ROWS = 250
#: Rows of the repositories table the page holds: each has an anchor other tables link to.
MAX_REPOSITORY_ROWS = 1000
#: The largest repositories get a full section (#repo-<slug>) with their newest tags.
REPOSITORY_SECTIONS = 25
#: Newest tags listed in a repository's section.
SECTION_TAGS = 10
#: Crawls drawn in the growth charts, per registry.
GROWTH_CRAWLS = 12
#: Bars of the bytes-per-repository and platform charts.
CHART_BARS = 15
#: Rows per page of a paged table in the browser.
PAGE_SIZE = 25


@dataclass
class ReportData:
    """Every query result a report needs, as Arrow tables, with the crawls they describe."""

    root: str
    registries: list[str]
    crawls: list[dict[str, Any]]  # the selected crawl of each registry
    history: list[dict[str, Any]]  # every committed crawl
    as_of: dt.datetime
    results: dict[str, pa.Table]
    reclaimable: Reclaimable
    timings: list[tuple[str, float]] = field(default_factory=list)
    computed_totals: dict[str, dict[str, Any]] = field(default_factory=dict)  # for the cache

    def previous_crawl(self, registry: str) -> dict[str, Any] | None:
        """The committed crawl of a registry that started just before its selected crawl."""
        current = next(c for c in self.crawls if c["registry"] == registry)
        return previous_crawl(self.history, current)


def previous_crawl(history: list[dict[str, Any]], crawl: dict[str, Any]) -> dict[str, Any] | None:
    """The committed crawl of the same registry that started just before ``crawl``."""
    started = utc(crawl["started"])
    assert started is not None
    earlier = [c for c in history if c["registry"] == crawl["registry"] and (utc(c["started"]) or started) < started]
    return max(earlier, key=lambda c: (utc(c["started"]), c["crawl_id"])) if earlier else None


@dataclass(frozen=True)
class Options:
    """What shapes a report besides the data."""

    title: str = "Registry inventory report"
    max_rows: int = MAX_ROWS
    max_repository_rows: int = MAX_REPOSITORY_ROWS
    sections: int = REPOSITORY_SECTIONS
    files_href: str = "report-files"  # where cut tables' CSV files are, relative to the page
    page_size: int = PAGE_SIZE


class _Clock:
    def __init__(self) -> None:
        self.timings: list[tuple[str, float]] = []

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.timings.append((name, time.perf_counter() - began))


def report_inventory(inventory: Inventory) -> Inventory:
    """The same connection and crawls, with the report's own query catalog."""
    return Inventory(inventory.connection, inventory.root, inventory.crawls, inventory.history, Catalog(REPORT_QUERIES))


def collect(
    inventory: Inventory,
    *,
    policy: str | Path | None = None,
    sections: int = REPOSITORY_SECTIONS,
    growth_crawls: int = GROWTH_CRAWLS,
    totals_cache: dict[str, dict[str, Any]] | None = None,
) -> ReportData:
    """Run every query the report needs, each once: the deletion set and its reclaimable bytes
    on the inventory's connection, the queries that need no other result at the same time on a
    second one.

    ``totals_cache`` holds the ``crawl_totals`` rows of crawls an earlier report computed
    (see :mod:`reginventory.report.cache`): committed crawls never change, so only the crawls
    it lacks are computed.
    """
    clock = _Clock()
    own = report_inventory(inventory)
    as_of = utc(crawl_time(inventory))
    assert as_of is not None
    results: dict[str, pa.Table] = {}
    # Load every keyed table now: the queries below then share them over two connections.
    with clock.step("prepare"):
        inventory.prepare()

    def run(name: str, source: Inventory = inventory, **params: Any) -> pa.Table:
        with clock.step(name):
            results[name] = source.run_arrow(name, **params)
        return results[name]

    # connections are made here, in this thread; each is then used by one thread only
    side, side_own = inventory.cursor(), inventory.cursor(own.catalog)

    def side_queries() -> None:
        """The queries that need no other result, on a second connection: DuckDB leaves part of
        the cores idle during each query, and the reclaimable bytes take the longest."""
        try:
            repo_sizes = run("repo_sizes", side)
            top = T.top_rows(repo_sizes, T.REPOSITORIES.order, sections)
            names = sorted(set(top.column("repository").to_pylist()))
            if names:
                run("repository_tags", side_own, repositories=names, per_repository=SECTION_TAGS)
            for name in ("duplicates", "shared_layers", "base_images", "dangling_referrers", "platforms"):
                run(name, side)
            run("tag_ages", side_own, as_of=as_of)
            run("crawl_errors", side_own)
            if any(previous_crawl(inventory.history, s) for s in inventory.crawls):
                growth = run("growth", side)
                # A registry without an earlier crawl counts everything as added: not a change.
                results["growth"] = growth.filter(pc.is_valid(growth.column("from_crawl")))
        finally:
            side.close()
            side_own.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        beside = pool.submit(side_queries)
        with clock.step("crawl_totals"):
            totals, computed = crawl_totals(inventory, own, growth_crawls, totals_cache or {})
        results["crawl_totals"] = totals
        untagged = run("untagged")
        stale = run("stale_tags", **stale_params(inventory))
        with clock.step("reclaimable"):
            if policy is None:
                reclaimable = reclaimable_of(inventory, default_deletions(untagged, stale))
            else:
                reclaimable = policy_reclaimable(inventory, policy)
        beside.result()
    data = ReportData(
        root=inventory.root,
        registries=list(inventory.registries),
        crawls=list(inventory.crawls),
        history=list(inventory.history),
        as_of=as_of,
        results=results,
        reclaimable=reclaimable,
        timings=clock.timings,
        computed_totals=computed,
    )
    return data


def crawl_key(registry: str, crawl_id: str) -> str:
    return f"{registry} {crawl_id}"


def growth_crawl_rows(inventory: Inventory, per_registry: int) -> list[dict[str, Any]]:
    """The committed crawls the growth charts show: per registry, the newest up to the selected one."""
    chosen = []
    for selected in inventory.crawls:
        earlier = [
            c for c in inventory.history
            if c["registry"] == selected["registry"] and utc(c["started"]) <= utc(selected["started"])  # type: ignore[operator]
        ]
        chosen += sorted(earlier, key=lambda c: (utc(c["started"]), c["crawl_id"]))[-per_registry:]
    return chosen


TOTAL_FIELDS = ("repositories", "tags", "images", "manifests", "size")


def crawl_totals(
    inventory: Inventory, own: Inventory, per_registry: int, cache: dict[str, dict[str, Any]]
) -> tuple[pa.Table, dict[str, dict[str, Any]]]:
    """The crawl_totals rows of the growth crawls: cached ones reused, the others computed.

    Returns the table and the rows computed now (plain values, for the cache).
    """
    crawls = growth_crawl_rows(inventory, per_registry)
    selected = {crawl_key(c["registry"], c["crawl_id"]) for c in inventory.crawls}
    rows: dict[str, dict[str, Any]] = {}
    missing = []
    for crawl in crawls:
        key = crawl_key(crawl["registry"], crawl["crawl_id"])
        cached = cache.get(key)
        if cached is not None and cached.get("started") == iso_time(crawl["started"]):
            rows[key] = {"registry": crawl["registry"], "crawl_id": crawl["crawl_id"],
                         "started": utc(crawl["started"]), "status": crawl["status"],
                         **{f: int(cached[f]) for f in TOTAL_FIELDS}}
        else:
            missing.append(key)
    computed: dict[str, dict[str, Any]] = {}
    if missing:
        for row in own.run_arrow("crawl_totals", crawls=missing).to_pylist():
            key = crawl_key(row["registry"], row["crawl_id"])
            rows[key] = {k: v for k, v in row.items() if k != "selected"}
            computed[key] = {"started": iso_time(row["started"]), **{f: int(row[f]) for f in TOTAL_FIELDS}}
    ordered = sorted(rows.values(), key=lambda r: (r["registry"], r["started"], r["crawl_id"]))
    for row in ordered:
        row["selected"] = crawl_key(row["registry"], row["crawl_id"]) in selected
    schema = pa.schema([
        ("registry", pa.string()), ("crawl_id", pa.string()), ("started", pa.timestamp("us", tz="UTC")),
        ("status", pa.string()), ("selected", pa.bool_()),
        *[(f, pa.int64()) for f in TOTAL_FIELDS],
    ])
    return pa.Table.from_pylist(ordered, schema=schema), computed


# ------------------------------------------------------------------------------------- build


def build(data: ReportData, options: Options = Options(), thresholds: Sequence[Threshold] = ()) -> Report:
    """The view model of a report from collected data (pure: no query, no I/O).

    ``thresholds`` (``--fail-on``) are measured against the report's metrics into its checks.
    """
    began = time.perf_counter()
    multi = len(data.registries) > 1
    results = data.results
    repo_sizes = results["repo_sizes"]
    ordered_repos = T.top_rows(repo_sizes, T.REPOSITORIES.order, options.max_repository_rows)
    keys = list(zip(ordered_repos.column("registry").to_pylist(), ordered_repos.column("repository").to_pylist()))
    anchors = repo_anchors(keys, multi)
    section_keys = keys[: options.sections]
    formatter = T.CellFormatter(anchors)

    stale_counts = _counts(results["stale_tags"])
    untagged_counts = _counts(results["untagged"])
    reclaim = data.reclaimable.per_repository

    def csv_href(table_id: str) -> str:
        return f"{options.files_href}/{table_id}.csv"

    def repo_extra(record: dict[str, Any]) -> dict[str, Any]:
        key = (record["registry"], record["repository"])
        return {"stale": stale_counts.get(key, 0), "untagged": untagged_counts.get(key, 0), "reclaimable": reclaim.get(key, 0)}

    repositories = T.build_table(
        T.REPOSITORIES, repo_sizes, formatter, limit=options.max_repository_rows, multi_registry=multi,
        csv_href=csv_href("repositories"), page_size=options.page_size, extra=repo_extra,
        extra_columns=T.REPOSITORY_EXTRA,
    )
    # Repositories without a section are anchored on their row of this table.
    with_section = {anchors[k] for k in section_keys}
    repositories = _anchor_rows(repositories, keys, anchors, with_section)

    page_tables: list[Table] = [repositories]
    if "growth" in results:
        growth = results["growth"]
        churn = pc.add(growth.column("size_added"), growth.column("size_removed"))
        changed = growth.append_column("churn", churn).filter(
            pc.or_(
                pc.greater(churn, 0),
                pc.greater(pc.add(pc.add(growth.column("tags_added"), growth.column("tags_removed")), growth.column("tags_moved")), 0),
            )
        )
        results["changes"] = changed.drop_columns(["churn"])
        page_tables.append(
            T.build_table(T.CHANGES, changed, formatter, limit=options.max_rows, multi_registry=multi,
                          csv_href=csv_href("changes"), page_size=options.page_size)
        )
    for spec in T.FINDINGS:
        page_tables.append(
            T.build_table(spec, results[spec.query], formatter, limit=options.max_rows, multi_registry=multi,
                          csv_href=csv_href(spec.id), page_size=options.page_size)
        )

    totals = _crawl_totals(data)
    headline = _headline(data, totals)
    findings = _findings(data, page_tables)
    sections = tuple(_sections(data, section_keys, anchors, formatter, stale_counts, untagged_counts, multi, options))
    crawl_infos = tuple(_crawl_info(data, c) for c in sorted(data.crawls, key=lambda c: c["registry"]))
    partial = any(c.partial for c in crawl_infos)
    metrics = _metrics(data, totals, page_tables, partial)
    checks = check(list(thresholds), metrics)
    chart_list = (
        _repo_chart(ordered_repos, anchors, multi),
        _age_chart(results["tag_ages"]),
        *_growth_charts(results["crawl_totals"]),
        _platform_chart(results["platforms"], results["tag_ages"]),
    )
    more = repo_sizes.num_rows - len(keys)
    repo_note = (
        f"The {len(section_keys)} largest repositories have a section below; the others of the "
        f"{len(keys):,} largest are anchored on their row of the repositories table"
        + (f"; the remaining {more:,} are in {csv_href('repositories')}." if more > 0 else ".")
    )
    toc = [Link("Summary", "#summary"), Link("Charts", "#charts")]
    toc += [Link(t.title if t.id != "changes" else "Changes", f"#{t.id}") for t in page_tables]
    toc.append(Link("Repository details", "#repository-details"))
    return Report(
        title=options.title,
        generated=iso_time(dt.datetime.now(dt.timezone.utc)),
        tool_version=__version__,
        source=data.root,
        registries=tuple(data.registries),
        crawls=crawl_infos,
        partial=partial,
        headline=headline,
        findings=findings,
        change_note=_change_note(data),
        policy_note=data.reclaimable.note,
        checks=checks,
        charts=chart_list,
        tables=tuple(page_tables),
        repo_sections=sections,
        repo_note=repo_note,
        toc=tuple(toc),
        metrics=metrics,
        timings=tuple(data.timings) + (("build", time.perf_counter() - began),),
    )


def repo_anchors(keys: list[tuple[str, str]], multi_registry: bool) -> dict[tuple[str, str], str]:
    """``repo-<slug>`` per repository; the registry joins the slug when there are several."""
    anchors: dict[tuple[str, str], str] = {}
    used: set[str] = set()
    for registry, repository in keys:
        base = "repo-" + (slug(f"{registry}-{repository}") if multi_registry else slug(repository))
        anchor, n = base, 1
        while anchor in used:  # team/app and team-app slug alike
            n += 1
            anchor = f"{base}-{n}"
        used.add(anchor)
        anchors[(registry, repository)] = anchor
    return anchors


def _anchor_rows(table: Table, keys: list[tuple[str, str]], anchors: dict[tuple[str, str], str], with_section: set[str]) -> Table:
    """Put the anchor of each repository without a section on its row (and drop its self-link)."""
    rows = []
    for row, key in zip(table.rows, keys):
        anchor = anchors[key]
        if anchor in with_section:
            rows.append(row)
            continue
        cells = tuple(replace(c, href="") if c.href == f"#{anchor}" else c for c in row.cells)
        rows.append(replace(row, cells=cells, anchor=anchor))
    return replace(table, rows=tuple(rows))


def _counts(table: pa.Table) -> dict[tuple[str, str], int]:
    if table.num_rows == 0:
        return {}
    grouped = table.group_by(["registry", "repository"]).aggregate([([], "count_all")])
    return {
        (r["registry"], r["repository"]): int(r["count_all"]) for r in grouped.to_pylist()
    }


@dataclass(frozen=True)
class _Totals:
    current: dict[str, int]
    previous: dict[str, int] | None  # summed over registries that have a previous crawl
    current_of_those: dict[str, int] | None
    previous_label: str


def _crawl_totals(data: ReportData) -> _Totals:
    rows = data.results["crawl_totals"].to_pylist()
    fields = ("repositories", "tags", "images", "manifests", "size")
    current = {f: sum(int(r[f]) for r in rows if r["selected"]) for f in fields}
    previous: dict[str, int] = {f: 0 for f in fields}
    current_of_those: dict[str, int] = {f: 0 for f in fields}
    labels = []
    found = False
    for crawl in data.crawls:
        before = data.previous_crawl(crawl["registry"])
        if before is None:
            continue
        prev_row = next((r for r in rows if r["registry"] == crawl["registry"] and r["crawl_id"] == before["crawl_id"]), None)
        cur_row = next((r for r in rows if r["registry"] == crawl["registry"] and r["selected"]), None)
        if prev_row is None or cur_row is None:
            continue
        found = True
        labels.append(f"{before['crawl_id']} ({iso_time(before['started'])})")
        for f in fields:
            previous[f] += int(prev_row[f])
            current_of_those[f] += int(cur_row[f])
    return _Totals(current, previous if found else None, current_of_those if found else None, ", ".join(labels))


def _delta(totals: _Totals, key: str, as_bytes: bool) -> tuple[str, str, str]:
    if totals.previous is None or totals.current_of_those is None:
        return "", "", ""
    change = totals.current_of_those[key] - totals.previous[key]
    text = signed_bytes(change) if as_bytes else signed_count(change)
    title = f"{change:+,}{' bytes' if as_bytes else ''} since the previous crawl {totals.previous_label}"
    trend = "up" if change > 0 else "down" if change < 0 else "flat"
    return text, title, trend


def _headline(data: ReportData, totals: _Totals) -> tuple[Figure, ...]:
    cur = totals.current
    figures = [
        Figure("registries", "Registries", human_count(len(data.registries)), len(data.registries),
               title=", ".join(data.registries)),
    ]
    for key, label, note in (
        ("repositories", "Repositories", ""),
        ("tags", "Tags", ""),
        ("images", "Images", "distinct digests that tags point at, per repository"),
    ):
        delta, delta_title, trend = _delta(totals, key, False)
        figures.append(Figure(key, label, human_count(cur[key]), cur[key], title=f"{cur[key]:,}",
                              delta=delta, delta_title=delta_title, trend=trend, note=note))
    delta, delta_title, trend = _delta(totals, "size", True)
    figures.append(Figure("stored_bytes", "Bytes stored", human_bytes(cur["size"]), cur["size"],
                          title=exact_bytes(cur["size"]), delta=delta, delta_title=delta_title, trend=trend,
                          note="distinct blobs, foreign layers excluded"))
    reclaim = data.reclaimable
    share = reclaim.size / cur["size"] if cur["size"] else 0.0
    figures.append(Figure("reclaimable_bytes", "Bytes reclaimable", human_bytes(reclaim.size), reclaim.size,
                          title=exact_bytes(reclaim.size),
                          note=f"{percent(share)} of stored, " + ("default policy" if not reclaim.policy else f"policy {Path(reclaim.policy).name}"),
                          href="#policy"))
    return tuple(figures)


def _findings(data: ReportData, tables: list[Table]) -> tuple[Figure, ...]:
    results = data.results
    by_id = {t.id: t for t in tables}

    def size_of(name: str, column: str = "size") -> int:
        table = results[name]
        return int(pc.sum(table.column(column)).as_py() or 0) if table.num_rows else 0

    errors = sum(int(c.get("errors") or 0) for c in data.crawls)
    items = [
        ("stale_tags", "Stale tags", by_id["stale_tags"].total, f"{human_bytes(size_of('stale_tags'))} of images"),
        ("untagged", "Untagged manifests", by_id["untagged"].total, f"{human_bytes(size_of('untagged'))} of images"),
        ("dangling_referrers", "Dangling referrers", by_id["dangling_referrers"].total, f"{human_bytes(size_of('dangling_referrers'))}"),
        ("duplicates", "Duplicate groups", by_id["duplicates"].total, ""),
        ("shared_layers", "Shared layers", by_id["shared_layers"].total, f"saving {human_bytes(size_of('shared_layers', 'saved_size'))}"),
        ("errors", "Crawl errors", errors, "" if errors == by_id["errors"].total else f"{by_id['errors'].total:,} recorded"),
    ]
    return tuple(Figure(key, label, human_count(value), value, title=f"{value:,}", note=note, href=f"#{key}")
                 for key, label, value, note in items)


def _metrics(data: ReportData, totals: _Totals, tables: list[Table], partial: bool) -> dict[str, Any]:
    by_id = {t.id: t for t in tables}
    growth = 0
    if totals.previous is not None and totals.current_of_those is not None:
        growth = totals.current_of_those["size"] - totals.previous["size"]
    return {
        "reclaimable_bytes": data.reclaimable.size,
        "stored_bytes": totals.current["size"],
        "growth_bytes": growth,
        "untagged": by_id["untagged"].total,
        "stale_tags": by_id["stale_tags"].total,
        "dangling_referrers": by_id["dangling_referrers"].total,
        "duplicates": by_id["duplicates"].total,
        "errors": sum(int(c.get("errors") or 0) for c in data.crawls),
        "repositories": totals.current["repositories"],
        "tags": totals.current["tags"],
        "images": totals.current["images"],
        "partial": partial,
    }


def _change_note(data: ReportData) -> str:
    if "growth" not in data.results:
        return "This is the first crawl: there is nothing to compare with."
    growth = data.results["growth"]

    def total(column: str) -> int:
        return int(pc.sum(growth.column(column)).as_py() or 0) if growth.num_rows else 0

    previous = []
    for crawl in data.crawls:
        before = data.previous_crawl(crawl["registry"])
        if before is not None:
            previous.append(f"{before['crawl_id']} ({iso_time(before['started'])})")
    return (
        f"Since the previous crawl {', '.join(previous)}: {plural(total('tags_added'), 'tag')} added, "
        f"{total('tags_removed'):,} removed, {total('tags_moved'):,} moved to another digest."
    )


def _crawl_info(data: ReportData, crawl: dict[str, Any]) -> CrawlInfo:
    started, finished = utc(crawl["started"]), utc(crawl["finished"])
    duration = human_duration((finished - started).total_seconds()) if started and finished else "–"
    before = data.previous_crawl(crawl["registry"])
    return CrawlInfo(
        registry=crawl["registry"],
        crawl_id=crawl["crawl_id"],
        started=iso_time(started),
        finished=iso_time(finished),
        duration=duration,
        status=crawl["status"],
        partial=crawl["status"] != schema.STATUS_COMPLETE,
        errors=int(crawl.get("errors") or 0),
        mode=str(crawl.get("mode") or ""),
        previous_id=before["crawl_id"] if before else "",
        previous_started=iso_time(before["started"]) if before else "",
    )


# ------------------------------------------------------------------------------------ charts


def _repo_chart(ordered: pa.Table, anchors: dict[tuple[str, str], str], multi: bool) -> Any:
    items = []
    for row in ordered.slice(0, CHART_BARS).to_pylist():
        name = f"{row['registry']}/{row['repository']}" if multi else row["repository"]
        anchor = anchors.get((row["registry"], row["repository"]), "")
        items.append(
            charts.BarInput(
                label=name,
                parts=((float(row["unique_size"] or 0), "s1"), (float(row["shared_size"] or 0), "s2")),
                value_text=human_bytes(row["size"]),
                title=f"{name}: {human_bytes(row['size'])} ({exact_bytes(row['size'])}); unique "
                      f"{human_bytes(row['unique_size'])}, shared {human_bytes(row['shared_size'])}",
                href=f"#{anchor}" if anchor else "",
            )
        )
    return charts.bar_chart(
        "chart-repositories", "Bytes per repository",
        f"The {len(items)} largest repositories: bytes unique to the repository, and bytes shared with others.",
        items, legend=(("s1", "unique"), ("s2", "shared")), empty="No repositories.",
    )


def _age_chart(ages: pa.Table) -> Any:
    rows = ages.to_pylist()
    total = sum(int(r["tags"]) for r in rows)
    return charts.column_chart(
        "chart-ages", "Age of tagged images",
        "Tags by the age of their image at the crawl's start (referrer tags left out).",
        [r["label"] for r in rows],
        [float(r["tags"]) for r in rows],
        [f"{r['label']}: {int(r['tags']):,} tags ({percent(int(r['tags']) / total if total else 0)}), "
         f"{human_bytes(r['size'])} of images" for r in rows],
        value_format=lambda v: human_count(int(v)), empty="No tags.",
    )


def _growth_charts(totals: pa.Table) -> tuple[Any, Any]:
    rows = totals.to_pylist()
    dates = sorted({utc(r["started"]) for r in rows})  # type: ignore[type-var]
    labels = [iso_date(d) for d in dates]
    position = {d: i for i, d in enumerate(dates)}
    registries = sorted({r["registry"] for r in rows})
    caption = "" if len(dates) > 1 else "Only one crawl so far: the lines start with the next one."
    made = []
    for key, title, description, fmt in (
        ("size", "Bytes stored over crawls", "Bytes of distinct blobs stored, per crawl.", human_bytes),
        ("tags", "Tags over crawls", "Tags per crawl.", lambda v: human_count(int(v))),
    ):
        series = []
        for registry in registries:
            values: list[float | None] = [None] * len(dates)
            tips = [""] * len(dates)
            for r in rows:
                if r["registry"] != registry:
                    continue
                i = position[utc(r["started"])]  # type: ignore[index]
                values[i] = float(r[key])
                exact = exact_bytes(r[key]) if key == "size" else f"{int(r[key]):,} tags"
                tips[i] = f"{registry} {r['crawl_id']} ({iso_time(r['started'])}, {r['status']}): {fmt(r[key])} ({exact})"
            series.append((registry, values, tips))
        made.append(
            charts.line_chart(f"chart-growth-{key}", title, description, labels, series, value_format=fmt, binary=key == "size",
                              empty="No crawls.", caption=caption)
        )
    return made[0], made[1]


def _platform_chart(platforms: pa.Table, ages: pa.Table) -> Any:
    total_tags = int(pc.sum(ages.column("tags")).as_py() or 0) if ages.num_rows else 0
    items = []
    if platforms.num_rows:
        grouped = platforms.group_by("platform").aggregate([("tags", "sum"), ("repository", "count_distinct")])
        grouped = grouped.sort_by([("tags_sum", "descending"), ("platform", "ascending")]).slice(0, CHART_BARS)
        for row in grouped.to_pylist():
            share = int(row["tags_sum"]) / total_tags if total_tags else 0.0
            items.append(
                charts.BarInput(
                    label=row["platform"],
                    parts=((share, "s1"), (max(0.0, 1 - share), "s0")),
                    value_text=percent(share),
                    title=f"{row['platform']}: {int(row['tags_sum']):,} of {total_tags:,} tags "
                          f"({percent(share)}), in {int(row['repository_count_distinct']):,} repositories",
                )
            )
    return charts.bar_chart(
        "chart-platforms", "Platform coverage",
        "Share of all tags (referrer tags left out) that offer each platform.",
        items, empty="No platform information.",
    )


# ----------------------------------------------------------------------------------- sections


def _sections(
    data: ReportData,
    keys: list[tuple[str, str]],
    anchors: dict[tuple[str, str], str],
    formatter: T.CellFormatter,
    stale_counts: dict[tuple[str, str], int],
    untagged_counts: dict[tuple[str, str], int],
    multi: bool,
    options: Options,
) -> Iterator[RepoSection]:
    results = data.results
    sizes = {(r["registry"], r["repository"]): r for r in results["repo_sizes"].to_pylist()} if keys else {}
    tags_by_repo: dict[tuple[str, str], list[dict[str, Any]]] = {}
    if "repository_tags" in results:
        for row in results["repository_tags"].to_pylist():
            tags_by_repo.setdefault((row["registry"], row["repository"]), []).append(row)
    platforms_by_repo: dict[tuple[str, str], list[dict[str, Any]]] = {}
    platforms = results["platforms"]
    if keys and platforms.num_rows:
        wanted = pa.array(sorted({k[1] for k in keys}), pa.string())
        for row in platforms.filter(pc.is_in(platforms.column("repository"), value_set=wanted)).to_pylist():
            platforms_by_repo.setdefault((row["registry"], row["repository"]), []).append(row)
    reclaim = data.reclaimable.per_repository
    for key in keys:
        size = sizes[key]
        tag_rows = tags_by_repo.get(key, [])
        tag_total = int(tag_rows[0]["tag_count"]) if tag_rows else 0
        tag_table = T.build_table(
            T.REPOSITORY_TAGS, pa.Table.from_pylist(tag_rows) if tag_rows else _empty_tags(), formatter,
            limit=SECTION_TAGS, multi_registry=False, page_size=10,
            description=(f"The {len(tag_rows)} newest of its {tag_total:,} tags (referrer tags left out)."
                         if tag_rows else "No tags (referrer tags left out)."),
        )
        anchor = anchors[key]
        tag_table = replace(tag_table, id=f"{anchor}-tags", total=tag_total)
        figures = (
            Figure("tags", "Tags", human_count(size["tags"]), size["tags"]),
            Figure("images", "Images", human_count(size["images"]), size["images"]),
            Figure("manifests", "Manifests", human_count(size["manifests"]), size["manifests"]),
            Figure("size", "Size", human_bytes(size["size"]), size["size"], title=exact_bytes(size["size"]),
                   note=f"unique {human_bytes(size['unique_size'])}, shared {human_bytes(size['shared_size'])}"),
            Figure("stale", "Stale tags", human_count(stale_counts.get(key, 0)), stale_counts.get(key, 0), href="#stale_tags"),
            Figure("untagged", "Untagged", human_count(untagged_counts.get(key, 0)), untagged_counts.get(key, 0), href="#untagged"),
            Figure("reclaimable", "Reclaimable", human_bytes(reclaim.get(key, 0)), reclaim.get(key, 0),
                   title=exact_bytes(reclaim.get(key, 0)), href="#policy"),
        )
        coverage = tuple(
            (p["platform"], percent(p["coverage"]), f"{int(p['tags']):,} of {int(p['repository_tags']):,} tags")
            for p in platforms_by_repo.get(key, [])
        )
        yield RepoSection(
            anchor=anchor,
            registry=key[0],
            repository=key[1],
            figures=figures,
            tags=tag_table,
            platforms=coverage,
            links=(("Repositories table", "#repositories"),),
        )


def _empty_tags() -> pa.Table:
    return pa.table({c.key: pa.array([], pa.string()) for c in T.REPOSITORY_TAGS.columns})
