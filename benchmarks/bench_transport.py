"""Which HTTP stack under the client: manifest GETs per second, measured side by side.

Starts a local docker-registry, pushes one small image, then times N manifest GETs (full Accept
list) by tag with each stack at the same concurrency, interleaved in rounds so machine noise
hits all of them alike: httpx's own AsyncClient, httpx over the httpx-aiohttp transport (what
reginventory uses, through RegistryClient), and bare aiohttp. Prints requests/s and ratios.

    .venv/bin/python benchmarks/bench_transport.py [--requests 3000] [--concurrency 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Awaitable, Callable

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from harness.images import push, sample_images  # noqa: E402
from harness.registry import RegistryServer  # noqa: E402

from reginventory.client import mediatypes as mt  # noqa: E402
from reginventory.client.registry_client import RegistryClient  # noqa: E402

REPO, TAG = "bench/app", "v1"


async def fan_out(n: int, concurrency: int, one: Callable[[], Awaitable[None]]) -> float:
    queue = iter(range(n))

    async def worker() -> None:
        for _ in queue:
            await one()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - start)


async def plain_httpx(url: str, n: int, c: int) -> float:
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=c)) as client:
        async def one() -> None:
            r = await client.get(f"{url}/v2/{REPO}/manifests/{TAG}", headers={"Accept": mt.ACCEPT})
            r.raise_for_status()
        return await fan_out(n, c, one)


async def reginventory_client(url: str, n: int, c: int) -> float:
    async with RegistryClient(url, max_in_flight=c) as client:
        async def one() -> None:
            await client.get_manifest(REPO, TAG)
        return await fan_out(n, c, one)


async def bare_aiohttp(url: str, n: int, c: int) -> float:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=c)) as session:
        async def one() -> None:
            async with session.get(f"{url}/v2/{REPO}/manifests/{TAG}", headers={"Accept": mt.ACCEPT}) as r:
                r.raise_for_status()
                await r.read()
        return await fan_out(n, c, one)


STACKS = {"httpx AsyncClient": plain_httpx, "reginventory (httpx + aiohttp transport)": reginventory_client,
          "bare aiohttp": bare_aiohttp}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with RegistryServer("anonymous", name="bench-transport") as server:
        push(server, sample_images()["hello"], REPO, TAG)
        results: dict[str, list[float]] = {name: [] for name in STACKS}
        for _ in range(args.rounds):
            for name, stack in STACKS.items():
                results[name].append(asyncio.run(stack(server.url, args.requests, args.concurrency)))
    base = statistics.median(results["httpx AsyncClient"])
    print(f"manifest GETs by tag, {args.requests} per run, {args.concurrency} in flight, median of {args.rounds} rounds")
    for name, values in results.items():
        median = statistics.median(values)
        print(f"  {name:42s} {median:8.0f} req/s   x{median / base:4.2f} vs httpx AsyncClient")


if __name__ == "__main__":
    main()
