"""The crawler against the registry's raw capacity and against a skopeo loop, in one run.

Starts a local docker-registry (access log off, so that the registry's logging is not what is
measured), seeds it (``crawl_seed``: per repository three images and a multi-arch index with an
attestation, plus one Docker image shared by all; tags cycle over them, so digests repeat), then
measures:

1. the registry's raw capacity: the minimal request list of a full crawl (catalog pages, tag
   lists, one GET per tag, one GET per manifest no tag reaches, one GET per distinct image
   config), replayed by a bare aiohttp client at several concurrencies (the fastest counts); and
   the incremental list (list pages and one HEAD per tag, conditional on the known digest, as
   the crawler sends them), the bound of any incremental crawl;
2. reginventory's full crawl and incremental recrawl (each in its own process: requests per
   second, tags per second, requests per tag, peak RSS);
3. a ``skopeo list-tags`` + ``inspect --raw`` + ``inspect --config`` loop over a sample of the
   same tags, extrapolated to every tag.

    .venv/bin/python benchmarks/bench_crawl.py                 # 200 repositories x 50 tags
    .venv/bin/python benchmarks/bench_crawl.py --big           # 100 x 1000 = 100k tags: memory

Targets (from the issue): full crawl <= replay / 0.6; full crawl >= 7x and incremental >= 40x
faster than the skopeo loop; incremental <= 1 request per tag + list pages; peak RSS < 300 MB
at 100k tags.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from crawl_seed import plan, seed_registry  # noqa: E402
from harness.images import SKOPEO  # noqa: E402
from harness.registry import RegistryServer  # noqa: E402

from reginventory.client import mediatypes as mt  # noqa: E402
from reginventory.inventory.store import SnapshotStore  # noqa: E402

QUIET_REGISTRY = {"log": {"level": "warn", "accesslog": {"disabled": True}}}
RUNNER = ROOT / "benchmarks" / "crawl_runner.py"


def run_crawl(url: str, out: Path, max_in_flight: int, full: bool = False) -> dict[str, Any]:
    args = [sys.executable, str(RUNNER), url, str(out), "--max-in-flight", str(max_in_flight)]
    if full:
        args.append("--full")
    done = subprocess.run(args, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median duration (its other figures with it); peak RSS is the worst seen."""
    ordered = sorted(runs, key=lambda r: r["seconds"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    return chosen


Request = tuple[str, str, dict[str, str]]  # method, path, headers


def minimal_requests(out: Path) -> tuple[list[Request], list[Request]]:
    """The requests of a full and of an incremental crawl that no crawler can avoid, from a
    crawl's snapshot: (full, incremental). The incremental list is the list pages and one HEAD
    per tag, conditional on the digest the snapshot recorded (nothing changed since: 304s)."""
    store = SnapshotStore(str(out))
    tags = store.read_table("tags").to_pylist()
    manifests = store.read_table("manifests").to_pylist()
    repositories = sorted({t["repository"] for t in tags} | {m["repository"] for m in manifests})
    accept = {"Accept": mt.ACCEPT}
    pages: list[Request] = []
    for start in range(0, len(repositories), 1000):
        last = f"&last={repositories[start - 1]}" if start else ""
        pages.append(("GET", f"/v2/_catalog?n=1000{last}", {}))
    pages += [("GET", f"/v2/{r}/tags/list?n=1000", {}) for r in repositories]
    full = pages + [("GET", f"/v2/{t['repository']}/manifests/{t['tag']}", accept) for t in tags]
    tagged = {t["digest"] for t in tags}
    untagged: dict[str, str] = {}
    configs: dict[str, str] = {}
    for m in manifests:
        if m["digest"] not in tagged:
            untagged.setdefault(m["digest"], m["repository"])
        if m["kind"] == "image" and m["config_digest"]:
            configs.setdefault(m["config_digest"], m["repository"])
    full += [("GET", f"/v2/{r}/manifests/{d}", accept) for d, r in untagged.items()]
    full += [("GET", f"/v2/{r}/blobs/{d}", {}) for d, r in configs.items()]
    incremental = pages + [
        ("HEAD", f"/v2/{t['repository']}/manifests/{t['tag']}", {**accept, "If-None-Match": f'"{t["digest"]}"'})
        for t in tags
    ]
    return full, incremental


async def replay(url: str, requests: list[Request], concurrency: int) -> float:
    """Seconds a bare aiohttp client takes for the whole list at ``concurrency`` in flight."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url=url, connector=connector) as session:
        todo = iter(requests)

        async def worker() -> None:
            for method, path, headers in todo:
                async with session.request(method, path, headers=headers) as response:
                    await response.read()
                    if response.status not in (200, 304):
                        raise RuntimeError(f"{path}: {response.status}")

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - start


def skopeo_loop(server: RegistryServer, seed: Any, repositories: int, per_repository: int) -> dict[str, float]:
    """Time list-tags per repository and inspect --raw + --config per tag on a sample."""
    with tempfile.TemporaryDirectory() as tmp:
        auth = Path(tmp) / "auth.json"
        auth.write_text('{"auths":{}}')
        env = {**os.environ, "REGISTRY_AUTH_FILE": str(auth)}

        def skopeo(*args: str) -> None:
            subprocess.run([SKOPEO, *args, "--tls-verify=false"], check=True, capture_output=True, env=env)

        names = list(seed.tags)
        step = max(1, len(names) // repositories)
        sample = names[::step][:repositories]
        list_seconds = inspect_seconds = 0.0
        tags_done = 0
        for repo in sample:
            start = time.perf_counter()
            skopeo("list-tags", f"docker://{server.host}/{repo}")
            list_seconds += time.perf_counter() - start
            for tag in list(seed.tags[repo])[:per_repository]:
                start = time.perf_counter()
                skopeo("inspect", "--raw", f"docker://{server.host}/{repo}:{tag}")
                skopeo("inspect", "--config", f"docker://{server.host}/{repo}:{tag}")
                inspect_seconds += time.perf_counter() - start
                tags_done += 1
    per_list = list_seconds / len(sample)
    per_tag = inspect_seconds / tags_done
    return {
        "sampled_tags": tags_done,
        "list_tags_ms": per_list * 1000,
        "per_tag_ms": per_tag * 1000,
        "extrapolated_seconds": per_list * len(seed.tags) + per_tag * seed.tag_count,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=None, help="repositories (default 200; --big: 100)")
    parser.add_argument("--tags", type=int, default=None, help="tags per repository (default 50; --big: 1000)")
    parser.add_argument("--big", action="store_true", help="100k tags, tags written as link files: the memory run")
    parser.add_argument("--max-in-flight", type=int, default=16, help="the crawler's requests in flight")
    parser.add_argument("--replay-concurrency", default="8,16,32,64", help="concurrencies tried by the replay")
    parser.add_argument("--skopeo-repos", type=int, default=8)
    parser.add_argument("--skopeo-tags", type=int, default=5, help="tags per sampled repository")
    parser.add_argument("--rounds", type=int, default=None, help="replay/full/incremental rounds (default 2; --big: 1)")
    parser.add_argument("--skip-replay", action="store_true", help="(default with --big)")
    parser.add_argument("--skip-skopeo", action="store_true", help="(default with --big)")
    args = parser.parse_args()
    repos = args.repos or (100 if args.big else 200)
    tags = args.tags or (1000 if args.big else 50)
    skip_replay = args.skip_replay or args.big
    skip_skopeo = args.skip_skopeo or args.big
    args.rounds = args.rounds or (1 if args.big else 2)

    with tempfile.TemporaryDirectory(prefix="bench-crawl-") as tmp:
        work = Path(tmp)
        with RegistryServer("anonymous", directory=work / "registry", name="bench-crawl", extra_config=QUIET_REGISTRY) as server:
            seed = plan(repos, tags)
            start = time.perf_counter()
            seed_registry(server.url, seed, tag_method="links" if args.big else "put", storage=server.root)
            seed_seconds = time.perf_counter() - start
            distinct = {i.digest for items in seed.repositories.values() for i in items}
            print(f"load average {os.getloadavg()[0]:.1f} at the start")
            print(f"registry {server.url}: {repos} repositories x {tags} tags = {seed.tag_count} tags, "
                  f"{len(distinct)} tagged digests (+ index children), seeded in {seed_seconds:.1f} s")

            replay_seconds = replay_incremental = None
            requests: list[Request] = []
            heads: list[Request] = []
            replays: list[float] = []
            head_replays: list[float] = []
            fulls: list[dict[str, Any]] = []
            incrementals: list[dict[str, Any]] = []
            best = None
            if not skip_replay:
                warm = run_crawl(server.url, work / "warm", args.max_in_flight)  # also warms the registry
                requests, heads = minimal_requests(work / "warm")
                timings = {c: asyncio.run(replay(server.url, requests, int(c))) for c in args.replay_concurrency.split(",")}
                best = min(timings, key=lambda c: timings[c])
                print(f"\n1. raw capacity: {len(requests)} minimal requests of a full crawl replayed by bare aiohttp")
                for c, seconds in timings.items():
                    print(f"   {c:>3} in flight: {seconds:6.2f} s  {len(requests) / seconds:6.0f} req/s")
                print(f"   fastest at {best} in flight (warm-up crawl: {warm['seconds']:.2f} s)")
            # Rounds interleave the replays and the crawls, so that load from elsewhere on the
            # machine hits them alike; medians are reported.
            for round_ in range(args.rounds):
                if best is not None:
                    replays.append(asyncio.run(replay(server.url, requests, int(best))))
                    head_replays.append(asyncio.run(replay(server.url, heads, int(best))))
                fulls.append(run_crawl(server.url, work / f"snapshots-{round_}", args.max_in_flight, full=True))
                incrementals.append(run_crawl(server.url, work / f"snapshots-{round_}", args.max_in_flight))
            if replays:
                replay_seconds = statistics.median(replays)
                replay_incremental = statistics.median(head_replays)
                print(f"   full list at {best} in flight, per round: {', '.join(f'{x:.2f}' for x in replays)} s "
                      f"-> median {replay_seconds:.2f} s")
                print(f"   incremental list ({len(heads)} requests: list pages + one conditional HEAD per tag), per round: "
                      f"{', '.join(f'{x:.2f}' for x in head_replays)} s -> median {replay_incremental:.2f} s")
            full = median_run(fulls)
            incremental = median_run(incrementals)
            print(f"\n2. reginventory crawl ({args.max_in_flight} in flight, one process each, median of {args.rounds})")
            for name, r in (("full", full), ("incremental", incremental)):
                print(
                    f"   {name:11s} {r['seconds']:6.2f} s  {r['requests']:6d} requests  "
                    f"{r['requests'] / r['seconds']:6.0f} req/s  {r['tags'] / r['seconds']:7.0f} tags/s  "
                    f"{r['requests'] / r['tags']:.3f} req/tag  peak RSS {r['peak_rss_mb']:.0f} MB  "
                    f"CPU {r['cpu_seconds']:.1f} s  [{r['status']}, {r['manifests']} manifest rows, "
                    f"{r.get('retries', 0)} retries]"
                )
            assert full["mode"] == "full" and incremental["mode"] == "incremental"

            skopeo = None
            if not skip_skopeo:
                skopeo = skopeo_loop(server, seed, args.skopeo_repos, args.skopeo_tags)
                print(
                    f"\n3. skopeo loop: {skopeo['sampled_tags']} sampled tags, list-tags {skopeo['list_tags_ms']:.0f} ms "
                    f"per repository, inspect --raw + --config {skopeo['per_tag_ms']:.0f} ms per tag "
                    f"-> {skopeo['extrapolated_seconds']:.0f} s for every tag"
                )

        print(f"\nload average {os.getloadavg()[0]:.1f} at the end (2 cores here; other work on the machine slows everything)")
        print("\ntargets")
        checks: list[tuple[str, bool]] = []
        if replay_seconds is not None:
            ratio = replay_seconds / full["seconds"]
            checks.append((f"full crawl at {ratio:.2f} of the replay's speed (>= 0.60; "
                           f"{full['seconds']:.2f} s vs {replay_seconds:.2f} s)", ratio >= 0.6))
        if replay_incremental is not None:
            ratio = replay_incremental / incremental["seconds"]
            checks.append((f"incremental crawl at {ratio:.2f} of its replay's speed (information; "
                           f"{incremental['seconds']:.2f} s vs {replay_incremental:.2f} s)", True))
        if skopeo is not None:
            for name, r, want in (("full", full, 7), ("incremental", incremental, 40)):
                speedup = skopeo["extrapolated_seconds"] / r["seconds"]
                checks.append((f"{name} crawl {speedup:.0f}x faster than the skopeo loop (>= {want}x)", speedup >= want))
            if replay_incremental is not None:
                bound = skopeo["extrapolated_seconds"] / replay_incremental
                checks.append((f"(the registry's own bound here: a bare client replaying the incremental "
                               f"list is {bound:.0f}x faster than the skopeo loop)", True))
        budget = incremental["tags"] + 1 + incremental["repositories"]
        sent = incremental["requests"] - incremental.get("retries", 0)  # a retry repeats a request
        checks.append((f"incremental: {sent} requests (+{incremental.get('retries', 0)} retries) for "
                       f"{incremental['tags']} tags + {1 + incremental['repositories']} list pages (<= {budget})",
                       sent <= budget))
        peak = max(full["peak_rss_mb"], incremental["peak_rss_mb"])
        checks.append((f"peak RSS {peak:.0f} MB for {full['tags']} tags (< 300 MB)", peak < 300))
        for text, ok in checks:
            print(f"   [{'ok' if ok else 'MISSED'}] {text}")


if __name__ == "__main__":
    main()
