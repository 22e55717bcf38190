"""Benchmark: one large blob copied between two local registries by the upload thread and by the
async path, side by side.

Starts two CNCF distribution registries on loopback (the test harness's ``RegistryServer``),
uploads ``--size`` random bytes to the source, then copies that blob to a fresh repository of the
destination ``--repeat`` times each way, interleaved, each copy in its own process:

- ``threaded``: ``RegistryWriter.push_blob`` with ``registry_source`` (the worker thread of
  ``reginventory.client.bulk``);
- ``async``: the same source without its ``direct`` reader, so the bytes go through the event
  loop, httpx and aiohttp, hashed by a worker thread per piece.

Prints each run's wall time, the client's CPU time (start-up included) and the destination
registry's CPU time, then the medians and the ratios.

Run:  .venv/bin/python benchmarks/bench_upload_paths.py --size 512M [--repeat 4] [--workdir /dev/shm]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_copy import compile_package, parse_size, process_cpu  # noqa: E402

MODES = ("threaded", "async")


def copy_once(mode: str, src_url: str, dst_url: str, digest: str, size: int, repository: str) -> None:
    """In a child process: copy the blob once, the way ``mode`` says; fail unless it went that way."""
    from reginventory.client.copy import BlobRef, registry_source
    from reginventory.client.registry_client import RegistryClient
    from reginventory.client.registry_writer import RegistryWriter

    async def main() -> None:
        async with RegistryClient(src_url, use_docker_config=False) as src, \
                RegistryClient(dst_url, use_docker_config=False) as dst:
            source = registry_source(src, "bench/src", BlobRef(digest, size))
            if mode == "async":
                source = dataclasses.replace(source, direct=None)
            async with RegistryWriter(dst) as writer:
                assert await writer.push_blob(repository, source) == "uploaded"
                assert writer.threaded_uploads == (1 if mode == "threaded" else 0)

    asyncio.run(main())


def seed(src_url: str, size: int) -> str:
    """Upload ``size`` random bytes to ``bench/src`` (through the async path); return the digest."""
    from reginventory.client.digest import sha256_digest
    from reginventory.client.registry_client import RegistryClient
    from reginventory.client.registry_writer import RegistryWriter, bytes_source

    data = os.urandom(size)

    async def main() -> None:
        async with RegistryClient(src_url, use_docker_config=False) as src, RegistryWriter(src) as writer:
            await writer.push_blob("bench/src", bytes_source(data))

    asyncio.run(main())
    return sha256_digest(data)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, src_url, dst_url, digest, size, repository = sys.argv[2:8]
        copy_once(mode, src_url, dst_url, digest, int(size), repository)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="512M", help="blob size (e.g. 512M, 1G); default 512M")
    parser.add_argument("--repeat", type=int, default=4, help="copies each way, interleaved; default 4")
    parser.add_argument("--workdir", default=None, help="where the registries store (default: a temp dir)")
    args = parser.parse_args()
    size = parse_size(args.size)

    from harness.registry import RegistryServer  # noqa: E402 - the test harness

    compile_package()
    work = Path(tempfile.mkdtemp(prefix="reginventory-bench-upload-", dir=args.workdir))
    rows: dict[str, list[tuple[float, float, float]]] = {mode: [] for mode in MODES}
    try:
        with RegistryServer("anonymous", directory=work / "src", name="src") as src, \
                RegistryServer("anonymous", directory=work / "dst", name="dst") as dst:
            digest = seed(src.url, size)
            assert dst.proc is not None
            for round_ in range(args.repeat):
                for mode in (MODES if round_ % 2 == 0 else MODES[::-1]):
                    repository = f"bench/{mode}-{round_}"
                    before = process_cpu(dst.proc.pid)
                    start = time.perf_counter()
                    child = subprocess.Popen([sys.executable, __file__, "--child", mode, src.url, dst.url, digest,
                                              str(size), repository])
                    _, status, usage = os.wait4(child.pid, 0)
                    if os.waitstatus_to_exitcode(status) != 0:
                        raise SystemExit(f"the {mode} copy failed")
                    row = (time.perf_counter() - start, usage.ru_utime + usage.ru_stime, process_cpu(dst.proc.pid) - before)
                    rows[mode].append(row)
                    print(f"  round {round_ + 1}: {mode:<8} {row[0]:6.2f} s, client CPU {row[1]:5.2f} s, "
                          f"destination registry CPU {row[2]:5.2f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    medians = {mode: [statistics.median(r[i] for r in rows[mode]) for i in range(3)] for mode in MODES}
    print(f"\nblob: {size / 2**20:.0f} MiB; {args.repeat} copies each way, interleaved (medians)")
    for mode in MODES:
        wall, cpu, dst_cpu = medians[mode]
        print(f"{mode:<8} {wall:6.2f} s  client CPU {cpu:5.2f} s  destination registry CPU {dst_cpu:5.2f} s")
    print(f"threaded vs async: {medians['async'][0] / medians['threaded'][0]:.2f}x the speed, "
          f"{medians['threaded'][1] / medians['async'][1]:.2f}x the client CPU")


if __name__ == "__main__":
    main()
