"""The main job on a local default: start a registry, fill it with sample images, inventory it.

Stages: list, crawl, query, report, plan, and the plan's dry run.

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

from harness.images import ImageSpec, build_image, push, random_layer, sample_set  # noqa: E402
from harness.registry import RegistryServer  # noqa: E402

DEMO = ROOT / ".demo"
CLI = str(ROOT / ".venv" / "bin" / "reginventory")


def step(title: str, *args: str) -> subprocess.CompletedProcess[str]:
    print(f"\n$ reginventory {' '.join(args)}    # {title}", flush=True)
    result = subprocess.run([CLI, *args], text=True)
    if result.returncode not in (0, 3):
        raise SystemExit(f"demo: 'reginventory {' '.join(args)}' failed with exit code {result.returncode}")
    return result


def push_ci_builds(server: RegistryServer) -> int:
    """Old CI builds (pr-*, sha-*, feature-*) that the example policy deletes."""
    count = 0
    for repository, base_seed in (("team-a/app", 10), ("team-b/api", 20)):
        for number in range(4):
            created = f"2024-0{number + 1}-15T12:00:00Z"
            spec = ImageSpec(layers=[random_layer(20_000 + 5_000 * number, seed=base_seed + number)], created=created)
            image = build_image(spec)
            for tag in (f"pr-{100 + base_seed + number}", f"sha-{base_seed + number:07x}"):
                push(server, image, repository, tag)
                count += 1
    return count


def main() -> None:
    shutil.rmtree(DEMO, ignore_errors=True)
    DEMO.mkdir()
    server = RegistryServer("anonymous", directory=DEMO / "registry", name="demo").start()
    print(f"registry: {server.url} (storage {server.root})")
    pushed = sample_set(server)
    ci = push_ci_builds(server)
    print(f"pushed {len(pushed.pushed_tags()) + ci} tags into {len(pushed.repositories)} repositories")
    snapshots, plan = DEMO / "snapshots", DEMO / "plan.json"
    try:
        step("repositories", "ls", server.host)
        step("tags of one repository", "tags", f"{server.host}/team-a/app")
        step("size of one platform of a multi-arch index", "size", f"{server.host}/team-a/multi:latest",
             "--platform", "linux/arm64")
        step("crawl into a Parquet snapshot", "crawl", server.url, "--out", str(snapshots))
        step("bytes per repository", "query", "repo_sizes", "--data", str(snapshots))
        step("tags sharing a digest", "query", "duplicates", "--data", str(snapshots))
        step("the HTML report", "report", "--data", str(snapshots), "--out", str(DEMO / "report.html"))
        step("a cleanup plan from the example policy", "plan", "--data", str(snapshots),
             "--policy", str(ROOT / "examples" / "policy.toml"), "--out", str(plan))
        step("apply it as a dry run (nothing is deleted without --yes)", "apply", str(plan))
    finally:
        server.close()
    print(f"\ndemo: done. Snapshot: {snapshots}  Plan: {plan}")
    print(f"HTML report: {DEMO / 'report.html'}")
    print("The registry was stopped; its storage stays in .demo/registry.")


if __name__ == "__main__":
    main()
