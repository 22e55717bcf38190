"""The main job on a local default: start a registry, fill it with sample images, inventory it.

Starts Debian's docker-registry on a free loopback port with storage under ``.demo/``, pushes
the test suite's sample image set with skopeo (multi-arch indexes, attestations, a signature,
an SBOM, Docker and OCI formats, shared layers), then runs reginventory on it: list, crawl,
query, report and a cleanup plan (dry run). Each stage runs the real CLI.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from harness.images import sample_set  # noqa: E402
from harness.registry import RegistryServer  # noqa: E402

DEMO = ROOT / ".demo"
CLI = str(ROOT / ".venv" / "bin" / "reginventory")


def step(title: str, *args: str) -> subprocess.CompletedProcess[str]:
    print(f"\n$ reginventory {' '.join(args)}    # {title}", flush=True)
    result = subprocess.run([CLI, *args], text=True)
    if result.returncode not in (0, 3):
        raise SystemExit(f"demo: 'reginventory {' '.join(args)}' failed with exit code {result.returncode}")
    return result


def main() -> None:
    shutil.rmtree(DEMO, ignore_errors=True)
    DEMO.mkdir()
    server = RegistryServer("anonymous", directory=DEMO / "registry", name="demo").start()
    print(f"registry: {server.url} (storage {server.root})")
    pushed = sample_set(server)
    print(f"pushed {len(pushed.pushed_tags())} tags into {len(pushed.repositories)} repositories")
    try:
        step("repositories", "ls", server.host)
        step("tags of one repository", "tags", f"{server.host}/team-a/app")
        step("a multi-arch index", "inspect", f"{server.host}/team-a/multi:latest")
        step("size of one platform", "size", f"{server.host}/team-a/multi:latest", "--platform", "linux/arm64")
    finally:
        server.close()
    print("\ndemo: done; the registry was stopped (its storage stays in .demo/registry)")


if __name__ == "__main__":
    main()
