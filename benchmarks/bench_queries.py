"""Time every query through the Python API on a large synthetic snapshot.

Generates (or reuses, see ``synthetic.cached_snapshot``) a synthetic registry with the crawler's
real schemas, opens it with ``open_inventory``, loads the keyed tables (the selected crawl's,
then the previous crawl's that growth reads; timed apart), then runs each query of
``queries/`` and prints its wall time, its CPU time, DuckDB's peak memory while it ran and
its wall time over the target. ``reclaimable`` and ``cascade`` get a deletion set of
``--deletions`` manifest revisions.

    python benchmarks/bench_queries.py --tags 1000000 --repos 10000

Target: every query under 2 s on a 2-core machine. The load average is printed too: on a
shared machine wall times grow with it, CPU times much less.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.synthetic import Shape, cached_snapshot  # noqa: E402
from reginventory.analysis import open_inventory  # noqa: E402
from reginventory.analysis.derived import local_folder  # noqa: E402
from reginventory.analysis.keyed import KEYED_TABLES, PREVIOUS_TABLES  # noqa: E402

TARGET_SECONDS = 2.0
DELETION_QUERIES = ("reclaimable", "cascade")


class MemorySampler:
    """Samples DuckDB's memory (duckdb_memory()) from a second cursor while a query runs."""

    def __init__(self, con: object, every: float = 0.02) -> None:
        self.cursor = con.cursor()  # type: ignore[attr-defined]
        self.every = every
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def current(self) -> int:
        row = self.cursor.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchall()
        return int(row[0][0] or 0)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.current())
            except Exception:  # noqa: BLE001 - a sample lost is not a failure
                pass
            self._stop.wait(self.every)

    def __enter__(self) -> "MemorySampler":
        self.peak = self.current()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.current())


def timed(action, sampler_con=None):  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    if sampler_con is None:
        result = action()
        return result, time.perf_counter() - wall, time.process_time() - cpu, 0
    with MemorySampler(sampler_con) as sampler:
        result = action()
    return result, time.perf_counter() - wall, time.process_time() - cpu, sampler.peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", type=int, default=100_000)
    parser.add_argument("--repos", type=int, default=1_000)
    parser.add_argument("--crawls", type=int, default=Shape.crawls)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--deletions", type=int, default=100_000, help="manifests in the deletion set")
    parser.add_argument("--data", help="an existing snapshot folder (default: generate one, cached)")
    parser.add_argument("--queries", nargs="*", help="only these queries")
    parser.add_argument("--check", action="store_true", help="exit 1 when a query misses the target")
    args = parser.parse_args(argv)

    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
    if args.data:
        data = Path(args.data)
    else:
        data = cached_snapshot(Shape(tags=args.tags, repos=args.repos, crawls=args.crawls, seed=args.seed))

    folder = local_folder(str(data))
    cached = folder is not None and any(folder.rglob("*.duckdb"))
    print(f"derived-table cache ({folder}): {'present: the prepare below reads it' if cached else 'absent: the prepare below builds and writes it'}")
    inv, wall, cpu, _ = timed(lambda: open_inventory(data))
    print(f"open_inventory: {wall:.2f} s wall, {cpu:.2f} s CPU")
    con = inv.connection
    _, wall, cpu, peak = timed(lambda: inv.prepare(KEYED_TABLES), con)
    print(f"prepare, selected crawl (keyed tables): {wall:.2f} s wall, {cpu:.2f} s CPU, DuckDB peak {peak / 1e6:.0f} MB")
    _, wall, cpu, peak = timed(lambda: inv.prepare((), previous=PREVIOUS_TABLES), con)
    print(f"prepare, previous crawl (growth's tags, blobs): {wall:.2f} s wall, {cpu:.2f} s CPU, DuckDB peak {peak / 1e6:.0f} MB")
    resident = MemorySampler(con).current()
    print(f"DuckDB memory once prepared: {resident / 1e6:.0f} MB")
    counts = con.sql("SELECT (SELECT count(*) FROM keyed.tags), (SELECT count(*) FROM keyed.manifests), "
                     "(SELECT count(*) FROM keyed.layers), (SELECT count(*) FROM keyed.repositories)").fetchall()[0]
    print(f"selected crawl: {counts[0]} tags, {counts[1]} manifests, {counts[2]} layers, {counts[3]} repositories")
    deletions = con.sql(
        "SELECT registry, repository, digest FROM keyed.manifests WHERE tagged "
        "ORDER BY hash(repository, digest) LIMIT $n", params={"n": args.deletions}
    ).to_arrow_table()
    print(f"deletion set: {deletions.num_rows} manifests")

    print(f"\n{'query':30s} {'rows':>9s} {'wall s':>8s} {'CPU s':>7s} {'peak MB':>8s} {'+MB':>6s} "
          f"{'wall/target':>11s}")
    slow = []
    ran = 0

    def measure(name: str, run) -> None:  # type: ignore[no-untyped-def]
        nonlocal ran
        result, wall, cpu, peak = timed(run, con)
        ran += 1
        verdict = "ok" if wall < TARGET_SECONDS else "OVER"
        if wall >= TARGET_SECONDS:
            slow.append(name)
        print(f"{name:30s} {result.num_rows:9d} {wall:8.2f} {cpu:7.2f} {peak / 1e6:8.0f} "
              f"{max(0, peak - resident) / 1e6:6.0f} {wall / TARGET_SECONDS:10.2f}x {verdict}", flush=True)

    for query in inv.queries():
        if args.queries and query.name not in args.queries:
            continue
        params = {"deletions": deletions} if query.name in DELETION_QUERIES else {}
        measure(query.name, lambda: inv.run_arrow(query.name, params))
    if not args.queries or "reclaimable" in args.queries:
        # above, reclaimable found the set that cascade loaded before it (and by blob); here each
        # `by` gets a set of its own, so its time includes the cascade and the freed blobs
        for offset, by in enumerate(("registry", "repository", "blob"), start=1):
            fresh = con.sql(
                "SELECT registry, repository, digest FROM keyed.manifests WHERE tagged "
                "ORDER BY hash(repository, digest, $k) LIMIT $n", params={"n": args.deletions, "k": offset}
            ).to_arrow_table()
            measure(f"reclaimable by {by}, new set",
                    lambda: inv.run_arrow("reclaimable", deletions=fresh, by=by))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("\npeak MB: DuckDB's memory while the query ran (sampled); +MB: above the prepared tables")
    print(f"process peak RSS: {rss:.0f} MB")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"target < {TARGET_SECONDS:.0f} s: {ran - len(slow)} of {ran} queries met it"
          + (f"; over: {', '.join(slow)}" if slow else ""))
    inv.close()
    return 1 if args.check and slow else 0


if __name__ == "__main__":
    raise SystemExit(main())
