"""Benchmark: plan and apply the deletion of many tags on a local registry, next to skopeo.

Starts a CNCF distribution registry on loopback (the test harness's ``RegistryServer``, deletes
enabled) and pushes ``--tags`` distinct images over ``--repos`` repositories (one tag each; the
images share their config and layer and differ by an annotation, so every tag is its own digest).
Then, in one run:

1. crawl the registry (``reginventory.inventory.crawl``) into a snapshot;
2. plan the deletion of every tag with a one-rule policy (``make_plan``) and write the plan;
3. apply it with the default concurrency (``apply_plan``: per repository one tag listing and a
   HEAD of each tag, which is every delete's drift and new-tag check, then DELETE by digest, with
   the journal's lines fsynced by group commit);
4. garbage-collect and compare the freed bytes with the plan's reclaimable figure; then, for
   context, the registry's own ceiling: ``--raw`` bare concurrent DELETEs without any check;
5. delete ``--sample`` other images, pushed the same way into repositories of the same size, with a
   sequential ``skopeo delete docker://REPO@DIGEST`` loop: the baseline.

Distribution's DELETE reads every tag link of the repository, so its cost grows with the tags per
repository; every measurement uses repositories of ``--tags / --repos`` tags, deleted down to
none, on the same registry. The skopeo rate is extrapolated to the whole plan
(``skopeo_extrapolated_seconds``). CPU seconds per action (registry process, this process, skopeo
processes) show where the time goes: on two cores the registry and the client share the CPU.

``--storage /dev/shm`` keeps the registry's files in memory (the plan and the journal stay on
disk): on a shared virtual disk, DELETEs wait on I/O (unlinks, online discard) by spells, which
moves every figure of a run, the skopeo loop's too; in memory the run is CPU-bound and steady.

Run:  .venv/bin/python benchmarks/bench_plan.py --tags 5000 --repos 50 --sample 100 --raw 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from harness import RegistryServer  # noqa: E402

from reginventory.analysis import open_inventory  # noqa: E402
from reginventory.client.digest import sha256_digest  # noqa: E402
from reginventory.client.registry_client import RegistryClient  # noqa: E402
from reginventory.client.registry_writer import RegistryWriter, bytes_source, gather_limited  # noqa: E402
from reginventory.inventory.crawl import crawl  # noqa: E402
from reginventory.inventory.crawl_config import CrawlTarget  # noqa: E402
from reginventory.plan import load_plan, make_plan, parse_policy, write_plan  # noqa: E402
from reginventory.plan.applier import DEFAULT_CONCURRENCY, apply_plan  # noqa: E402

SKOPEO = shutil.which("skopeo") or "/usr/bin/skopeo"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
#: Manifests pushed at once while setting up (setup speed is not what is measured).
PUSH_CONCURRENCY = 32


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of a process (this one when ``pid`` is None) so far."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU milliseconds per action of the registry and of the client while a block runs."""

    def __init__(self, server: RegistryServer, client: Callable[[], float] = cpu_seconds) -> None:
        assert server.proc is not None
        self.pid = server.proc.pid
        self.client = client

    def __enter__(self) -> CpuMeter:
        self.registry0, self.client0 = cpu_seconds(self.pid), self.client()
        return self

    def __exit__(self, *exc: object) -> None:
        self.registry = cpu_seconds(self.pid) - self.registry0
        self.client_used = self.client() - self.client0

    def per_action(self, count: int) -> dict[str, float]:
        return {"registry_cpu_ms": round(1000 * self.registry / count, 2),
                "client_cpu_ms": round(1000 * self.client_used / count, 2)}


def image_parts(repository: str) -> tuple[bytes, bytes]:
    """(config, layer) shared by every image of one repository."""
    layer = f"bench layer of {repository}\n".encode() * 64
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(layer)]},
    }, sort_keys=True).encode()
    return config, layer


def manifest_for(config: bytes, layer: bytes, number: int) -> bytes:
    body = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": sha256_digest(layer), "size": len(layer)}],
        "annotations": {"bench.number": str(number)},
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


async def push_images(host: str, prefix: str, repos: int, tags: int) -> dict[str, list[str]]:
    """``tags`` one-tag images over ``repos`` repositories; returns repository -> digests."""
    out: dict[str, list[str]] = {}
    async with RegistryClient(host, use_docker_config=False, max_in_flight=PUSH_CONCURRENCY) as client:
        writer = RegistryWriter(client)
        jobs = []
        for r in range(repos):
            repository = f"{prefix}/r{r:03d}"
            config, layer = image_parts(repository)
            await writer.push_blob(repository, bytes_source(config))
            await writer.push_blob(repository, bytes_source(layer))
            out[repository] = []
            for n in range(r, tags, repos):
                raw = manifest_for(config, layer, n)
                out[repository].append(sha256_digest(raw))
                jobs.append((repository, f"build-{n:05d}", raw))

        def job(repository: str, tag: str, raw: bytes):  # type: ignore[no-untyped-def]
            return lambda: writer.put_manifest(repository, tag, raw, OCI_MANIFEST)

        await gather_limited(PUSH_CONCURRENCY, [job(*j) for j in jobs])
        await writer.aclose()
    return out


async def bare_deletes(host: str, digests: dict[str, list[str]], sample: int, concurrency: int) -> tuple[int, float]:
    """The registry's own ceiling: DELETE by digest with no check and no journal, ``concurrency`` at once."""
    refs = [(repository, digest) for repository, items in sorted(digests.items()) for digest in items][:sample]
    async with RegistryClient(host, use_docker_config=False, max_in_flight=2 * concurrency) as client:
        writer = RegistryWriter(client)

        def job(repository: str, digest: str):  # type: ignore[no-untyped-def]
            return lambda: writer.delete_manifest(repository, digest)

        start = time.perf_counter()
        await gather_limited(concurrency, [job(*r) for r in refs])
        return len(refs), time.perf_counter() - start


def skopeo_loop(server: RegistryServer, digests: dict[str, list[str]], sample: int) -> tuple[int, float]:
    """Delete ``sample`` digests one ``skopeo delete`` at a time; (count, seconds)."""
    refs = [f"{repository}@{digest}" for repository, items in sorted(digests.items()) for digest in items][:sample]
    start = time.perf_counter()
    for ref in refs:
        subprocess.run([SKOPEO, "delete", "--tls-verify=false", f"docker://{server.host}/{ref}"], check=True,
                       capture_output=True)
    return len(refs), time.perf_counter() - start


def run(args: argparse.Namespace) -> dict[str, Any]:
    load = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="bench-plan-"))
    storage = Path(tempfile.mkdtemp(prefix="bench-plan-registry-", dir=args.storage)) if args.storage else work / "registry"
    server = RegistryServer("anonymous", directory=storage, name="bench-plan")
    result: dict[str, Any] = {"tags": args.tags, "repos": args.repos, "concurrency": args.concurrency,
                              "registry_storage": str(args.storage or "disk")}
    with server:
        t = time.perf_counter()
        asyncio.run(push_images(server.host, "bench", args.repos, args.tags))
        per_repo = max(1, args.tags // args.repos)
        sample_repos = max(1, -(-args.sample // per_repo))
        baseline = asyncio.run(push_images(server.host, "sample", sample_repos, sample_repos * per_repo))
        raw_repos = max(1, -(-args.raw // per_repo))
        ceiling = asyncio.run(push_images(server.host, "raw", raw_repos, raw_repos * per_repo)) if args.raw else {}
        result["setup_seconds"] = round(time.perf_counter() - t, 2)
        server.garbage_collect()

        t = time.perf_counter()
        crawl(CrawlTarget(url=server.host, use_docker_config=False, repo="^bench/", max_in_flight=32), str(work / "snapshots"))
        result["crawl_seconds"] = round(time.perf_counter() - t, 2)

        t = time.perf_counter()
        with open_inventory(work / "snapshots") as inv:
            plan = make_plan(inv, parse_policy("[[rules]]\nrepositories = '^bench/'\n", "bench-policy.toml"))
        path = write_plan(plan, work / "plan.json")
        result["plan_seconds"] = round(time.perf_counter() - t, 2)
        result["actions"] = len(plan["actions"])
        result["reclaimable_bytes"] = plan["reclaimable_bytes"]

        loaded = load_plan(path)
        with CpuMeter(server) as meter:
            summary = apply_plan(
                loaded, lambda registry: RegistryClient(registry, use_docker_config=False, max_in_flight=2 * args.concurrency),
                concurrency=args.concurrency,
            )
        result["apply_seconds"] = round(summary.seconds, 2)
        result["apply_done"] = len(summary.done)
        result["apply_failed"] = len(summary.failed) + len(summary.skipped)
        result["apply_rechecks"] = summary.rechecks
        result["apply_actions_per_second"] = round(len(summary.done) / summary.seconds, 1)
        result["apply_cpu"] = meter.per_action(len(plan["actions"]))

        before = server.blob_bytes()
        server.garbage_collect()
        result["freed_bytes"] = before - server.blob_bytes()

        if ceiling:
            with CpuMeter(server) as meter:
                count, seconds = asyncio.run(bare_deletes(server.host, ceiling, args.raw, args.concurrency))
            result["bare_delete_sample"] = count
            result["bare_delete_per_second"] = round(count / seconds, 1)
            result["bare_delete_cpu"] = meter.per_action(count)

        with CpuMeter(server, children_cpu_seconds) as meter:
            count, seconds = skopeo_loop(server, baseline, args.sample)
        result["skopeo_sample"] = count
        result["skopeo_seconds"] = round(seconds, 2)
        result["skopeo_actions_per_second"] = round(count / seconds, 1)
        result["skopeo_extrapolated_seconds"] = round(len(plan["actions"]) * seconds / count, 1)
        result["skopeo_cpu"] = meter.per_action(count)
        result["speedup"] = round(result["apply_actions_per_second"] / result["skopeo_actions_per_second"], 1)
        if ceiling:
            # Bare DELETEs over skopeo: what any client that checks nothing could reach here.
            result["bare_delete_speedup"] = round(result["bare_delete_per_second"] / result["skopeo_actions_per_second"], 1)

    result["load_average"] = {"start": [round(x, 2) for x in load], "end": [round(x, 2) for x in os.getloadavg()]}
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
        if args.storage:
            shutil.rmtree(storage, ignore_errors=True)
    else:
        result["workdir"] = str(work)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tags", type=int, default=5000, help="tags (one image each) to plan and delete")
    parser.add_argument("--repos", type=int, default=50, help="repositories they are spread over")
    parser.add_argument("--sample", type=int, default=100, help="skopeo delete calls for the baseline")
    parser.add_argument("--raw", type=int, default=500, help="bare concurrent DELETEs, the registry's ceiling (0: skip)")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="apply concurrency")
    parser.add_argument("--storage", type=Path, help="folder for the registry's files (e.g. /dev/shm); default: with the plan, on disk")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the registry and snapshot folder")
    args = parser.parse_args(argv)
    result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    print(
        f"\napply: {result['apply_done']} deletes in {result['apply_seconds']} s = {result['apply_actions_per_second']} "
        f"actions/s (concurrency {args.concurrency}); skopeo delete loop: {result['skopeo_actions_per_second']} "
        f"actions/s over {result['skopeo_sample']}; {result['speedup']}x; bare DELETE ceiling "
        f"{result.get('bare_delete_per_second', '-')} /s ({result.get('bare_delete_speedup', '-')}x); load average {result['load_average']['start'][0]} -> "
        f"{result['load_average']['end'][0]}",
        file=sys.stderr,
    )
    return 0 if result["apply_failed"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
