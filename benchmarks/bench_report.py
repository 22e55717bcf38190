"""Time the report on synthetic snapshots: 10k tags (target < 3 s) and 1M tags (< 15 s, < 15 MB).

Generates (or reuses, cached under ``$TMPDIR/reginventory-synthetic/``, the same data as
bench_queries.py) a synthetic registry with the crawler's real schemas
(``benchmarks/synthetic.py``, 3 crawls, 100 tags per repository),
then times what ``reginventory report`` does, step by step: opening the snapshot, each query,
building the view model, rendering the page and writing it with its CSV files. The wall time
is the target; the CPU time of the process is printed too, since on a shared machine wall
times grow with the load average.

    python benchmarks/bench_report.py                      # 10k and 1M tags
    python benchmarks/bench_report.py --tags 10000 --runs 3
    python benchmarks/bench_report.py --data SNAPSHOTS     # an existing snapshot folder

Every size is reported cold (no ``_derived`` cache: a snapshot crawled with ``--no-derived``)
and warm (the cache that every crawl builds after its commit, built here untimed with
``build_derived`` for the newest 2 crawls): the weekly crawl-then-report job is warm.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.synthetic import Shape, cached_snapshot  # noqa: E402
from reginventory.analysis import open_inventory  # noqa: E402
from reginventory.analysis.derived import CACHE_ENV, KEEP_CRAWLS, build_derived  # noqa: E402
from reginventory.analysis.derived import local_folder  # noqa: E402
from reginventory.report import Options, build, collect, render_markdown  # noqa: E402
from reginventory.report.build import (  # noqa: E402
    GROWTH_CRAWLS,
    crawl_key,
    crawl_totals,
    growth_crawl_rows,
    report_inventory,
)
from reginventory.report.format import human_bytes  # noqa: E402
from reginventory.report.writer import write_report  # noqa: E402

#: (tags, wall seconds, page bytes): the targets of the issue.
TARGETS = {10_000: (3.0, None), 1_000_000: (15.0, 15 * 1024 * 1024)}
TAGS_PER_REPOSITORY = 100
#: Each size is timed twice: without the derived-table cache (removed before every run: the
#: first report of a crawl) and with it (written by the cold runs, as a crawl's build_derived).
PHASES = {
    "cold": "cold (no derived-table cache)",
    "warm": "warm (derived tables built by the crawls)",
}


def derived_folder(data: Path) -> Path:
    folder = local_folder(str(data))
    assert folder is not None
    return folder


def snapshot_for(tags: int, repos: int, crawls: int, seed: int, regenerate: bool) -> Path:
    return cached_snapshot(Shape(tags=tags, repos=repos, crawls=crawls, seed=seed), regenerate=regenerate)


def build_warm_cache(data: Path) -> float:
    """Build the derived tables of the newest 2 crawls of each registry, as their crawls did."""
    began = time.perf_counter()
    with open_inventory(data) as inventory:
        history = list(inventory.history)
    for registry in sorted({c["registry"] for c in history}):
        for crawl in [c for c in history if c["registry"] == registry][-KEEP_CRAWLS:]:
            build_derived(str(data), registry, crawl["crawl_id"])
    return time.perf_counter() - began


def previous_totals(data: Path) -> dict[str, dict[str, object]]:
    """The crawl totals cache of a weekly job: every growth crawl but the newest one (untimed)."""
    with open_inventory(data) as inventory:
        crawls = growth_crawl_rows(inventory, GROWTH_CRAWLS)
        selected = {crawl_key(c["registry"], c["crawl_id"]) for c in inventory.crawls}
        _, computed = crawl_totals(inventory, report_inventory(inventory), GROWTH_CRAWLS, {})
    return {k: v for k, v in computed.items() if k not in selected and any(crawl_key(c["registry"], c["crawl_id"]) == k for c in crawls)}


def run_once(data: Path, out: Path, cache: dict[str, dict[str, object]]) -> dict[str, object]:
    """One report, timed step by step (as ``reginventory report --data DATA --out OUT``)."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    steps: list[tuple[str, float]] = []
    began = time.perf_counter()
    inventory = open_inventory(data)
    steps.append(("open", time.perf_counter() - began))
    with inventory:
        collected = collect(inventory, totals_cache=cache)
    steps += collected.timings
    options = replace(Options(), files_href=f"{out.stem}-files")
    report = build(collected, options)
    steps.append(report.timings[-1])
    written = write_report(report, collected, out, "html")
    steps += list(written.timings)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    began = time.perf_counter()
    markdown = render_markdown(report)
    md_seconds = time.perf_counter() - began
    return {
        "wall": wall, "cpu": cpu, "steps": steps, "size": written.size, "files": written.files,
        "csv_bytes": sum(f.stat().st_size for f in written.files), "md_seconds": md_seconds,
        "md_bytes": len(markdown.encode()), "tags": report.metrics["tags"],
        "repositories": report.metrics["repositories"], "computed_crawls": len(collected.computed_totals),
    }


def screenshot(page_path: Path, png: Path, *, width: int = 1200, height: int = 1500) -> None:
    """The top of a report (title, headline figures, charts) in Debian's Chromium, as a PNG."""
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    png.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(page_path.resolve().as_uri())
        page.screenshot(path=str(png), clip={"x": 0, "y": 0, "width": width, "height": height})
        browser.close()


def main(argv: list[str] | None = None) -> int:
    # The default: read the derived-table cache when it is there, write it only when asked
    # (the crawl does, after its commit; here build_warm_cache does, untimed).
    os.environ.pop(CACHE_ENV, None)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", type=int, nargs="*", default=sorted(TARGETS), help="snapshot sizes (tags)")
    parser.add_argument("--crawls", type=int, default=Shape.crawls)
    parser.add_argument("--seed", type=int, default=Shape.seed)
    parser.add_argument("--runs", type=int, default=1, help="runs per size; the best is kept")
    parser.add_argument("--data", help="an existing snapshot folder instead of a synthetic one")
    parser.add_argument("--out", help="folder for the reports (default: a temporary one)")
    parser.add_argument("--regenerate", action="store_true", help="write the synthetic snapshots again")
    parser.add_argument(
        "--cold", action="store_true",
        help="no crawl totals cache (a first report); default: the cache of a weekly job, which "
             "knows every crawl but the newest",
    )
    parser.add_argument(
        "--phases", nargs="+", choices=list(PHASES), default=list(PHASES),
        help="cold, warm or both (warm builds what the derived-table cache lacks, untimed)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--screenshot", help="also write a PNG of the first report's top (docs/report-screenshot.png)")
    args = parser.parse_args(argv)

    out_dir = Path(args.out or tempfile.mkdtemp(prefix="reginventory-bench-report-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
    sizes: list[tuple[int | None, Path]] = []
    if args.data:
        sizes.append((None, Path(args.data)))
    else:
        for tags in args.tags:
            repos = max(1, tags // TAGS_PER_REPOSITORY)
            sizes.append((tags, snapshot_for(tags, repos, args.crawls, args.seed, args.regenerate)))

    missed = []
    shot = args.screenshot
    for tags, data in sizes:
        label = f"{tags:,} tags" if tags else str(data)
        cache = {} if args.cold else previous_totals(data)
        for phase in args.phases:
            results = []
            if phase == "cold":
                shutil.rmtree(derived_folder(data), ignore_errors=True)
            else:
                print(f"\n   derived tables built in {build_warm_cache(data):.1f} s "
                      "(what each crawl does after its commit; untimed)")
            for _ in range(args.runs):
                results.append(run_once(data, out_dir / f"report-{tags or 'data'}.html", cache))
            best = min(results, key=lambda r: r["wall"])  # type: ignore[arg-type,return-value]
            print(f"\n== {label}, {PHASES[phase]}: {best['tags']:,} tags in {best['repositories']:,} repositories "
                  f"(load {os.getloadavg()[0]:.2f}; crawl totals computed for {best['computed_crawls']} crawl(s), "
                  f"{len(cache)} cached)")
            for name, seconds in best["steps"]:  # type: ignore[attr-defined]
                print(f"   {name:<20} {seconds:7.2f} s")
            print("   (the queries run on two connections at once: their times overlap)")
            print(f"   {'total (wall)':<20} {best['wall']:7.2f} s   (cpu {best['cpu']:.2f} s; runs: "
                  + ", ".join(f"{r['wall']:.2f}" for r in results) + ")")
            print(f"   page {human_bytes(best['size'])} ({best['size']:,} bytes); "
                  f"{len(best['files'])} CSV files, {human_bytes(best['csv_bytes'])}; "  # type: ignore[arg-type]
                  f"markdown {human_bytes(best['md_bytes'])} in {best['md_seconds']:.2f} s")
            if shot:
                screenshot(out_dir / f"report-{tags or 'data'}.html", Path(shot))
                print(f"   screenshot {shot}")
                shot = None
            target = TARGETS.get(tags or -1)
            if target:
                seconds, max_bytes = target
                ok_time = best["wall"] < seconds  # type: ignore[operator]
                ok_size = max_bytes is None or best["size"] < max_bytes  # type: ignore[operator]
                print(f"   target: < {seconds:.0f} s {'met' if ok_time else 'MISSED'} "
                      f"({best['wall'] / seconds:.2f}x of it)"  # type: ignore[operator]
                      + (f"; page < {human_bytes(max_bytes)} {'met' if ok_size else 'MISSED'} "
                         f"({best['size'] / max_bytes:.2f}x of it)" if max_bytes else ""))  # type: ignore[operator]
                if not (ok_time and ok_size):
                    missed.append(f"{label} ({phase})")
    print(f"\nreports in {out_dir}")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
