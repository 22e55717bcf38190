"""Run one crawl in this process and print what the benchmark measures, as one JSON line.

    python benchmarks/crawl_runner.py URL OUT [--max-in-flight N] [--full]

Imports (and pyarrow's first-use import of pandas) happen before the clock starts, as for the
replay client; the peak RSS is this process's, crawl included.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402

from reginventory.inventory.crawl import CrawlResult, crawl_registry  # noqa: E402
from reginventory.inventory.crawl_config import CrawlOptions, CrawlTarget  # noqa: E402


async def run(target: CrawlTarget, out: str, options: CrawlOptions) -> tuple[CrawlResult, int]:
    """One crawl, and the retries its client made (each one a request sent again)."""
    async with target.client() as client:
        return await crawl_registry(target, out, options, client=client), client.retries


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("out")
    parser.add_argument("--max-in-flight", type=int, default=16)
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args()
    pa.array([1])  # pyarrow imports pandas on first use: not part of the crawl
    usage = resource.getrusage(resource.RUSAGE_SELF)
    rss_before, cpu_before = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    start = time.perf_counter()
    result, retries = asyncio.run(
        run(CrawlTarget(args.url, max_in_flight=args.max_in_flight), args.out, CrawlOptions(mode="full" if args.full else "auto"))
    )
    elapsed = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "mode": result.mode,
                "status": result.status,
                "seconds": elapsed,
                "requests": result.requests,
                "repositories": result.repositories,
                "tags": result.tags,
                "manifests": result.manifests,
                "errors": result.errors,
                "retries": retries,
                "cpu_seconds": usage.ru_utime + usage.ru_stime - cpu_before,
                "peak_rss_mb": usage.ru_maxrss / 1024,
                "rss_before_mb": rss_before / 1024,
            }
        )
    )


if __name__ == "__main__":
    main()
