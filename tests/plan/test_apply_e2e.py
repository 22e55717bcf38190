"""End to end on real distribution registries: crawl, plan, apply, garbage-collect, compare.

Each test gets its own registries (``fresh_registry``): they delete and collect garbage.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest
from typer.testing import CliRunner

from harness import (
    RegistryServer,
    build_artifact,
    build_cosign_signature,
    build_image,
    build_index,
    cosign_tag,
    push,
    random_image,
    sample_set,
    tag_existing,
)
from harness.images import ImageSpec, push_with_http
from reginventory.cli.app import app
from reginventory.cli.main import load_commands
from reginventory.inventory.crawl import crawl
from reginventory.inventory.crawl_config import CrawlTarget

pytestmark = pytest.mark.needs_registry
ROOT = Path(__file__).resolve().parents[2]


def invoke(*args: str) -> Any:
    load_commands()
    return CliRunner().invoke(app, [*args, "--no-docker-config"], catch_exceptions=False)


def crawl_into(server: RegistryServer, root: Path) -> None:
    crawl(CrawlTarget(url=server.host, use_docker_config=False), str(root))


def plan_for(server: RegistryServer, tmp: Path, policy: str, name: str = "plan") -> tuple[Path, dict[str, Any]]:
    snapshots = tmp / f"{name}-snapshots"
    crawl_into(server, snapshots)
    (tmp / f"{name}.toml").write_text(policy)
    out = tmp / f"{name}.json"
    result = invoke("plan", "--data", str(snapshots), "--policy", str(tmp / f"{name}.toml"), "--out", str(out),
                    "--output", str(tmp / f"{name}.md"))
    assert result.exit_code == 0, result.output
    return out, json.loads(out.read_text())


def state(server: RegistryServer) -> dict[str, dict[str, str]]:
    """repository -> tag -> digest, as the registry serves them now."""
    out: dict[str, dict[str, str]] = {}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for repository in client.get("/v2/_catalog?n=1000").json()["repositories"]:
            tags = client.get(f"/v2/{repository}/tags/list").json().get("tags") or []
            resolved = {}
            for tag in tags:
                head = client.head(f"/v2/{repository}/manifests/{tag}", headers={"Accept": ACCEPT})
                resolved[tag] = head.headers.get("docker-content-digest") if head.status_code == 200 else "dangling"
            if resolved:
                out[repository] = resolved
    return out


ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.docker.distribution.manifest.v2+json",
])


def skopeo_digest(server: RegistryServer, reference: str) -> str | None:
    """skopeo inspect --raw: the digest a reference pulls as, or None when it does not."""
    proc = subprocess.run(
        ["skopeo", "inspect", "--raw", *server.skopeo_args(), f"docker://{server.host}/{reference}"],
        capture_output=True, timeout=60,
    )
    if proc.returncode != 0:
        return None
    import hashlib

    return "sha256:" + hashlib.sha256(proc.stdout).hexdigest()


def push_signed_multiarch(server: RegistryServer) -> dict[str, Any]:
    """team-s/app: pr-1 a signed image (cosign tag and SBOM referrer), pr-2 a signed multi-arch
    index, v1.0.0 a kept multi-arch index one of whose children is also tagged amd64-pr-3."""
    repo = "team-s/app"
    signed = build_image(ImageSpec(layers=[{"a": "signed image\n"}], created="2024-01-01T00:00:00Z"))
    push(server, signed, repo, "pr-1", method="http")
    push(server, build_cosign_signature(signed, repository=repo), repo, cosign_tag(signed.digest), method="http")
    push(server, build_artifact(signed), repo, None, method="http")
    amd = build_image(ImageSpec(layers=[{"b": "multi amd64\n"}], created="2024-01-01T00:00:00Z"))
    arm = build_image(ImageSpec(layers=[{"b": "multi arm64\n"}], created="2024-01-01T00:00:00Z", architecture="arm64"))
    multi = build_index([amd, arm])
    push(server, multi, repo, "pr-2", method="http")
    push(server, build_cosign_signature(multi, repository=repo), repo, cosign_tag(multi.digest), method="http")
    kept_amd = build_image(ImageSpec(layers=[{"c": "kept amd64\n"}], created="2024-01-01T00:00:00Z"))
    kept_arm = build_image(ImageSpec(layers=[{"c": "kept arm64\n"}], created="2024-01-01T00:00:00Z", architecture="arm64"))
    kept = build_index([kept_amd, kept_arm])
    push(server, kept, repo, "v1.0.0", method="http")
    tag_existing(server, repo, "amd64-pr-3", kept_amd)
    return {"signed": signed, "multi": multi, "kept": kept, "kept_amd": kept_amd}


POLICY = r"""
[protect]
tags = '^latest$'

[[rules]]
repositories = '^(team-|hello$)'
keep_tags = '^(v?[0-9]+\.[0-9]+\.[0-9]+)$'
"""


def test_cleanup_frees_the_reclaimable_bytes(fresh_registry: Callable[..., RegistryServer], tmp_path: Path) -> None:
    server = fresh_registry()
    sample_set(server)
    extra = push_signed_multiarch(server)
    server.garbage_collect()
    before_bytes, before = server.blob_bytes(), state(server)
    path, plan = plan_for(server, tmp_path, POLICY)
    assert (tmp_path / "plan.md").read_text().startswith("# reginventory plan")

    result = invoke("apply", str(path), "--yes")
    assert result.exit_code == 0, result.output
    assert "garbage-collect" in result.output
    summary = json.loads(Path(f"{path}.summary.json").read_text())
    assert summary["counts"]["failed"] == summary["counts"]["skipped"] == 0
    server.garbage_collect()
    freed = before_bytes - server.blob_bytes()
    assert plan["reclaimable_bytes"] > 0
    assert abs(freed - plan["reclaimable_bytes"]) <= plan["reclaimable_bytes"] * 0.01, (freed, plan["reclaimable_bytes"])

    removed = {(a["repository"], t) for a in plan["actions"] if a["action"] in ("delete", "untag") for t in a["tags"]}
    after = state(server)
    for repository, tags in before.items():
        for tag, digest in tags.items():
            if (repository, tag) in removed:
                assert skopeo_digest(server, f"{repository}:{tag}") is None, (repository, tag)
            else:
                assert skopeo_digest(server, f"{repository}:{tag}") == digest, (repository, tag)
                assert after[repository][tag] == digest
    # the safety rules, on the real registry
    assert "dangling" not in json.dumps(after)
    assert ("team-s/app", "amd64-pr-3") in removed  # untagged: its index stays
    assert skopeo_digest(server, f"team-s/app@{extra['kept_amd'].digest}") == extra["kept_amd"].digest
    assert skopeo_digest(server, f"team-s/app:{cosign_tag(extra['signed'].digest)}") is None  # went with its image
    assert skopeo_digest(server, f"team-s/app:{cosign_tag(extra['multi'].digest)}") is None
    for child in extra["multi"].children:
        assert skopeo_digest(server, f"team-s/app@{child.digest}") is None
    assert skopeo_digest(server, "team-a/multi:latest") is not None  # children of a kept index pull
    assert "1.0" not in after.get("team-a/multi", {})


def push_three(server: RegistryServer, repo: str, tags: tuple[str, str, str], seed: int, size: int = 1500) -> list[Any]:
    """Three random images pushed to ``repo`` under ``tags``, one tag each."""
    images = [random_image(size, seed=seed + n) for n in range(3)]
    with server.http_client() as client:
        for image, tag in zip(images, tags):
            push_with_http(server, image, repo, tag, client=client)
    return images


def test_a_tag_moved_or_added_after_planning_survives(fresh_registry: Callable[..., RegistryServer], tmp_path: Path) -> None:
    server = fresh_registry()
    repo = "team-m/app"
    a, b, c = push_three(server, repo, ("pr-1", "pr-2", "v1.0.0"), seed=1, size=2000)
    path, plan = plan_for(server, tmp_path, "[[rules]]\nrepositories = '.*'\ndelete_tags = '^pr-'\n")
    assert {tuple(x["tags"]) for x in plan["actions"]} == {("pr-1",), ("pr-2",)}
    tag_existing(server, repo, "pr-1", c)  # moved between plan and apply
    tag_existing(server, repo, "hotfix", b)  # a new tag on a planned digest

    result = invoke("apply", str(path), "--yes")
    assert result.exit_code == 3, result.output
    assert "tag pr-1 moved to " + c.digest in result.output
    assert "new tag hotfix points at the digest" in result.output
    now = state(server)[repo]
    assert now == {"pr-1": c.digest, "pr-2": b.digest, "hotfix": b.digest, "v1.0.0": c.digest}
    summary = json.loads(Path(f"{path}.summary.json").read_text())
    assert summary["counts"] == {"done": 0, "skipped": 2, "failed": 0, "total": 2}
    assert skopeo_digest(server, f"{repo}@{a.digest}") == a.digest  # pr-1's old image was not deleted


def test_a_registry_that_refuses_deletes_stops_before_any_delete(
    fresh_registry: Callable[..., RegistryServer], tmp_path: Path
) -> None:
    server = fresh_registry(delete_enabled=False)
    image = random_image(1000, seed=7)
    push_with_http(server, image, "team-n/app", "pr-1")
    path, _ = plan_for(server, tmp_path, "[[rules]]\nrepositories = '.*'\n")
    result = invoke("apply", str(path), "--yes")
    assert result.exit_code == 1
    assert "storage.delete.enabled: true" in result.output and "nothing was deleted" in result.output
    journal = Path(f"{path}.journal").read_text().splitlines()
    assert all("action_id" not in line for line in journal)
    assert state(server)["team-n/app"] == {"pr-1": image.digest}


def test_dry_run_changes_nothing(fresh_registry: Callable[..., RegistryServer], tmp_path: Path) -> None:
    server = fresh_registry()
    image = random_image(1000, seed=8)
    push_with_http(server, image, "team-o/app", "pr-1")
    snapshots = tmp_path / "snapshots"
    crawl_into(server, snapshots)
    (tmp_path / "policy.toml").write_text("[[rules]]\nrepositories = '.*'\n")
    result = invoke("plan", "--data", str(snapshots), "--policy", str(tmp_path / "policy.toml"), "--apply",
                    "--out", str(tmp_path / "plan.json"))
    assert result.exit_code == 0, result.output
    assert "# reginventory plan (dry run: nothing deleted)" in result.output
    assert result.output.rstrip().endswith("dry run: nothing deleted; rerun with --yes")
    result = invoke("apply", str(tmp_path / "plan.json"))
    assert result.exit_code == 0 and "dry run: nothing deleted; rerun with --yes" in result.output
    assert state(server) == {"team-o/app": {"pr-1": image.digest}}
    assert invoke("apply", str(tmp_path / "plan.json"), "--max-age", "0s").exit_code == 1


def _fill(server: RegistryServer, count: int) -> None:
    """``count`` single-tag images over three repositories, a signed one and a multi-arch one."""
    with server.http_client() as client:
        for n in range(count):
            push_with_http(server, random_image(300, seed=100 + n), f"team-k/r{n % 3}", f"pr-{n}", client=client)
        push_with_http(server, random_image(300, seed=99), "team-k/r0", "v1.0.0", client=client)
    signed = random_image(300, seed=98)
    push(server, signed, "team-k/r1", "pr-signed", method="http")
    push(server, build_cosign_signature(signed), "team-k/r1", cosign_tag(signed.digest), method="http")
    index = build_index([random_image(300, seed=97), random_image(300, seed=96)])
    push(server, index, "team-k/r2", "pr-multi", method="http")


def test_a_killed_run_resumes_to_the_same_state(fresh_registry: Callable[..., RegistryServer], tmp_path: Path) -> None:
    count = 36
    policy = "[[rules]]\nrepositories = '^team-k/'\ndelete_tags = '^pr-'\n"
    whole, killed = fresh_registry(), fresh_registry()
    _fill(whole, count)
    killed.stop()  # the same content, byte for byte: a copy of the storage
    shutil.copytree(whole.root, killed.root, dirs_exist_ok=True)
    killed.start()
    whole_plan, plan = plan_for(whole, tmp_path, policy, "whole")
    killed_plan, _ = plan_for(killed, tmp_path, policy, "killed")
    total = len(plan["actions"])
    assert invoke("apply", str(whole_plan), "--yes").exit_code == 0

    journal = Path(f"{killed_plan}.journal")
    command = [sys.executable, "-m", "reginventory", "apply", str(killed_plan), "--yes", "--concurrency", "1",
               "--no-docker-config"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=tmp_path)
    done = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.exists():
            done = journal.read_text().count('"state": "done"')
            if done >= 5:
                break
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    first_run = journal.read_text().count('"state": "done"')
    assert 5 <= first_run < total, (first_run, total)

    rerun = invoke("apply", str(killed_plan), "--yes")
    assert rerun.exit_code == 0, rerun.output
    assert "finished by an earlier run" in rerun.output
    lines = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
    finals = {}
    for line in lines:
        if "action_id" in line and line["state"] in ("done", "skipped"):
            assert line["action_id"] not in finals or finals[line["action_id"]] == "started-again"
            finals[line["action_id"]] = line["state"]
    assert len(finals) == total and set(finals.values()) == {"done"}

    assert state(whole) == state(killed)
    assert set(state(killed)["team-k/r0"]) == {"v1.0.0"}
    for server in (whole, killed):
        server.garbage_collect()
    assert whole.blob_digests() == killed.blob_digests()
    assert whole.blob_bytes() == killed.blob_bytes()


def test_copy_actions_mount_and_skip_what_is_there(fresh_registry: Callable[..., RegistryServer], tmp_path: Path) -> None:
    source, destination = fresh_registry(), fresh_registry()
    image = random_image(3000, seed=11)
    index = build_index([random_image(500, seed=12), random_image(500, seed=13)])
    push_with_http(source, image, "team-c/app", "v1.0.0")
    tag_existing(source, "team-c/app", "stable", image)
    push(source, index, "team-c/app", "v2.0.0", method="http")
    policy = (
        f"[[copy]]\nrepositories = '^team-c/'\ntags = '^(v|stable)'\ndestination = '{destination.host}'\n"
        "destination_repository = 'backup/{repository}'\n"
    )
    path, plan = plan_for(source, tmp_path, policy)
    assert [a["action"] for a in plan["actions"]] == ["copy", "copy"]
    result = invoke("apply", str(path), "--yes")
    assert result.exit_code == 0, result.output
    assert state(destination) == {"backup/team-c/app": {"v1.0.0": image.digest, "stable": image.digest,
                                                        "v2.0.0": index.digest}}
    # a second plan finds everything at the destination already
    path2, _ = plan_for(source, tmp_path, policy, "again")
    assert invoke("apply", str(path2), "--yes").exit_code == 0
    summary = json.loads(Path(f"{path2}.summary.json").read_text())
    assert {r["reason"] for r in summary["results"]} == {"already present at the destination"}


def _apply(server: RegistryServer, path: Path, **kwargs: Any) -> Any:
    from reginventory.client.registry_client import RegistryClient
    from reginventory.plan import load_plan
    from reginventory.plan.applier import apply_plan

    return apply_plan(load_plan(path), lambda registry: RegistryClient(registry, use_docker_config=False), **kwargs)


def test_a_planned_tag_moved_onto_another_planned_digest_skips_both(
    fresh_registry: Callable[..., RegistryServer], tmp_path: Path
) -> None:
    """The repository's tags are resolved before its first delete: a tag that another action
    removes, now pointing at this action's digest, protects it (the DELETE would take it along)."""
    server = fresh_registry()
    repo = "team-p/app"
    a, b, c = push_three(server, repo, ("pr-1", "pr-2", "pr-3"), seed=21)
    path, plan = plan_for(server, tmp_path, "[[rules]]\nrepositories = '.*'\ndelete_tags = '^pr-'\n")
    assert len(plan["actions"]) == 3
    tag_existing(server, repo, "pr-2", a)  # pr-2 (planned with b) now points at a (planned with pr-1)

    summary = _apply(server, path)
    reasons = {r.digest: r.reason for r in summary.results}
    assert reasons[a.digest] == "new tag pr-2 points at the digest"
    assert reasons[b.digest] == f"tag pr-2 moved to {a.digest}"
    assert reasons[c.digest] is None and [r.digest for r in summary.done] == [c.digest]
    assert state(server)[repo] == {"pr-1": a.digest, "pr-2": a.digest}
    assert skopeo_digest(server, f"{repo}@{b.digest}") == b.digest  # skipped, so still there (untagged)


def test_a_resolution_too_old_is_repeated_before_the_delete(
    fresh_registry: Callable[..., RegistryServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tag moved after the repository was resolved is still caught when the resolution is older
    than CHECK_MAX_AGE_SECONDS: the group's own tags are resolved again right before its delete."""
    from reginventory.plan import applier

    server = fresh_registry()
    repo = "team-q/app"
    a, b, c = push_three(server, repo, ("pr-1", "pr-2", "v1.0.0"), seed=31)
    path, _ = plan_for(server, tmp_path, "[[rules]]\nrepositories = '.*'\ndelete_tags = '^pr-'\n")
    resolve = applier._Run.resolve

    async def resolve_then_move(self: Any, registry: str, repository: str) -> Any:
        view = await resolve(self, registry, repository)
        tag_existing(server, repo, "pr-1", c)  # moved after the resolution, before the deletes
        return view

    monkeypatch.setattr(applier._Run, "resolve", resolve_then_move)
    monkeypatch.setattr(applier, "CHECK_MAX_AGE_SECONDS", 0.0)
    summary = _apply(server, path)
    assert summary.rechecks == 2  # pr-1 and pr-2, each resolved again by its own group
    assert {r.digest: r.reason for r in summary.skipped} == {a.digest: f"tag pr-1 moved to {c.digest}"}
    assert [r.digest for r in summary.done] == [b.digest]
    assert state(server)[repo] == {"pr-1": c.digest, "v1.0.0": c.digest}


def test_the_shell_script_checks_drift_and_new_tags(fresh_registry: Callable[..., RegistryServer], tmp_path: Path) -> None:
    """`plan --format sh` run against the real registry: a tag moved or added since the plan
    skips its group (exit 3), the rest is deleted by digest."""
    from reginventory.plan.render import render

    server = fresh_registry()
    repo = "team-r/app"
    a, b, c = push_three(server, repo, ("pr-1", "pr-2", "pr-3"), seed=41)
    push_with_http(server, random_image(1500, seed=44), repo, "v1.0.0")
    path, plan = plan_for(server, tmp_path, "[[rules]]\nrepositories = '.*'\ndelete_tags = '^pr-'\n")
    script = tmp_path / "plan.sh"
    script.write_text(render(plan, "sh"))
    kept = state(server)[repo]["v1.0.0"]
    tag_existing(server, repo, "hotfix", b)  # a new tag on a planned digest
    tag_existing(server, repo, "pr-3", a)  # moved: and now a second tag on a's digest

    env = {**os.environ, "SKOPEO_OPTS": " ".join(server.skopeo_args())}
    proc = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert f"skip: new tag hotfix points at {b.digest}" in proc.stderr
    assert f"moved to {a.digest} (plan: {c.digest})" in proc.stderr
    assert f"skip: new tag pr-3 points at {a.digest}" in proc.stderr
    assert "done; 3 groups skipped, 0 commands failed" in proc.stderr
    assert state(server)[repo] == {"pr-1": a.digest, "pr-2": b.digest, "hotfix": b.digest, "pr-3": a.digest,
                                   "v1.0.0": kept}

    tag_existing(server, repo, "pr-3", c)  # moved back: a and c go on a second run, b stays held by hotfix
    proc = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert "done; 1 groups skipped, 0 commands failed" in proc.stderr
    assert state(server)[repo] == {"pr-2": b.digest, "hotfix": b.digest, "v1.0.0": kept}
