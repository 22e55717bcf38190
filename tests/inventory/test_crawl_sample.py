"""A crawl of the standard sample set records exactly what the harness pushed; a recrawl of an
unchanged registry makes one request per tag plus the list pages."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from crawl_helpers import dicts, rows
from harness.images import BuiltIndex, BuiltManifest, SampleSet
from harness.registry import RegistryServer
from typer.testing import CliRunner

from reginventory.cli.main import app, load_commands
from reginventory.client.reference import REFERRER_TAG_RE
from reginventory.inventory.crawl import crawl
from reginventory.inventory.crawl_config import CrawlTarget
from reginventory.inventory.store import SnapshotStore

pytestmark = pytest.mark.needs_registry


def _created(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _only_sample(sample: SampleSet) -> str:
    """A --repo expression that selects the sample repositories (other tests push elsewhere)."""
    return "^(" + "|".join(re.escape(r) for r in sample.repositories) + ")$"


@pytest.fixture(scope="module")
def sample_crawl(
    registry: RegistryServer, sample_images: SampleSet, tmp_path_factory: pytest.TempPathFactory
) -> tuple[SampleSet, str, object]:
    out = str(tmp_path_factory.mktemp("sample-crawl"))
    [result] = crawl(CrawlTarget(registry.url, repo=_only_sample(sample_images)), out)
    return sample_images, out, result


def test_crawl_records_every_tag_and_no_cosign_tag(sample_crawl: tuple[SampleSet, str, object]) -> None:
    sample, out, result = sample_crawl
    assert result.status == "complete" and result.mode == "full"
    expected = sorted(
        (r, t, item.digest, item.media_type)
        for r, tags in sample.tags.items()
        for t, item in tags.items()
        if not REFERRER_TAG_RE.match(t)
    )
    got = sorted((t["repository"], t["tag"], t["digest"], t["media_type"]) for t in dicts(out, "tags"))
    assert got == expected
    assert result.tags == len(expected)
    assert rows(out, "errors") == []
    [crawl_row] = SnapshotStore(out).committed_crawls()
    assert crawl_row["status"] == "complete" and crawl_row["tags"] == len(expected)


def test_crawl_records_every_manifest_with_sizes_created_labels(sample_crawl: tuple[SampleSet, str, object]) -> None:
    sample, out, _ = sample_crawl
    manifests = {(m["repository"], m["digest"]): m for m in dicts(out, "manifests")}
    # every manifest revision of every repository: tagged, index children, the untagged SBOM
    assert set(manifests) == {(r, d) for r in sample.repositories for d in sample.manifest_digests(r)}
    items: dict[str, BuiltManifest | BuiltIndex] = {}
    for repository in sample.repositories:
        for item in [*sample.tags.get(repository, {}).values(), *sample.untagged.get(repository, [])]:
            items[item.digest] = item
            for child in item.children:
                items[child.digest] = child
    for (repository, digest), m in manifests.items():
        item = items[digest]
        assert m["media_type"] == item.media_type
        assert m["manifest_size"] == item.size
        assert m["tagged"] == bool(sample.tags_for_digest(repository, digest))
        if isinstance(item, BuiltManifest):
            assert m["config_digest"] == item.config_digest and m["config_size"] == item.config_size
            assert m["layer_count"] == len(item.layers)
            assert m["layers_size"] == sum(item.layer_sizes)
            assert m["total_size"] == item.image_size
            assert m["created"] == _created(item.created)
            assert dict(m["labels"] or []) == dict(item.labels)
            if item.kind == "image":
                assert (m["os"], m["architecture"], m["variant"]) == (
                    item.platform.os, item.platform.architecture, item.platform.variant,
                )
        else:
            blobs = {b.digest: b.size for b in item.blobs()}
            assert m["total_size"] == sum(blobs.values())
            assert m["created"] == _created(item.created)

    app_v11, multi, sbom, signature = (sample.roles[k] for k in ("app_v11", "multi", "sbom", "signature"))
    app = sample.repository_of("app_v11")
    assert manifests[(app, sbom.digest)]["kind"] == "sbom"
    assert manifests[(app, sbom.digest)]["reached_by"] == "referrer"
    assert manifests[(app, sbom.digest)]["tagged"] is False
    assert manifests[(app, sbom.digest)]["subject_digest"] == app_v11.digest
    assert manifests[(app, signature.digest)]["kind"] == "signature"
    multi_repo = sample.repository_of("multi")
    children = {c.digest: c for c in multi.children}
    for digest, child in children.items():
        row = manifests[(multi_repo, digest)]
        assert row["reached_by"] == "index" and row["tagged"] is False
        assert row["kind"] == ("attestation" if child.kind == "attestation" else "image")
    assert manifests[(sample.repository_of("hello"), sample.roles["hello"].digest)]["created"] is None


def test_crawl_records_platforms_of_index_children(sample_crawl: tuple[SampleSet, str, object]) -> None:
    sample, out, _ = sample_crawl
    children = [c for c in dicts(out, "index_children")]
    for role in ("multi", "docker_list"):
        item = sample.roles[role]
        got = sorted((c for c in children if c["digest"] == item.digest), key=lambda c: c["position"])
        assert [c["child_digest"] for c in got] == [c.digest for c in item.children]
        assert [c["platform"] for c in got if c["kind"] == "image"] == list(item.platforms)
        assert [c["child_size"] for c in got] == [c.size for c in item.children]
        attestations = [c for c in got if c["kind"] == "attestation"]
        assert all(c["platform"] is None for c in attestations)
        assert len(attestations) == sum(1 for c in item.children if c.kind == "attestation")
    # content tables hold one row per registry and digest
    keys = [(c["digest"], c["position"]) for c in children]
    assert len(keys) == len(set(keys))


def test_crawl_records_layers_once_per_digest(sample_crawl: tuple[SampleSet, str, object]) -> None:
    sample, out, _ = sample_crawl
    layers: dict[str, list[tuple[int, str, int]]] = {}
    for row in dicts(out, "layers"):
        layers.setdefault(row["digest"], []).append((row["position"], row["layer_digest"], row["size"]))
    for repository in sample.repositories:
        for item in sample.tags.get(repository, {}).values():
            for image in (item.children if isinstance(item, BuiltIndex) else (item,)):
                assert sorted(layers[image.digest]) == [
                    (i, layer.digest, layer.size) for i, layer in enumerate(image.layers)
                ]
    positions = [(d, p) for d, entries in layers.items() for p, _, _ in entries]
    assert len(positions) == len(set(positions))


def test_crawl_records_referrers_by_tag_and_subject(sample_crawl: tuple[SampleSet, str, object]) -> None:
    sample, out, _ = sample_crawl
    app_v11, sbom, signature = (sample.roles[k] for k in ("app_v11", "sbom", "signature"))
    app = sample.repository_of("app_v11")
    hexdigest = app_v11.digest.split(":")[1]
    got = sorted(
        (r["repository"], r["subject_digest"], r["digest"], r["kind"], r["source"], r["tag"])
        for r in dicts(out, "referrers")
    )
    assert got == sorted(
        [
            (app, app_v11.digest, signature.digest, "signature", "tag", f"sha256-{hexdigest}.sig"),
            (app, app_v11.digest, sbom.digest, "sbom", "tag", f"sha256-{hexdigest}"),
            (app, app_v11.digest, sbom.digest, "sbom", "subject", None),
        ]
    )


def test_recrawl_is_incremental_one_request_per_tag(sample_crawl: tuple[SampleSet, str, object], registry: RegistryServer) -> None:
    sample, out, first = sample_crawl
    [second] = crawl(CrawlTarget(registry.url, repo=_only_sample(sample)), out)
    assert second.mode == "incremental" and second.status == "complete"
    every_tag = sum(len(t) for t in sample.tags.values())  # cosign tags are HEADed too
    list_pages = 1 + len(sample.repositories)  # one catalog page, one tag list per repository
    assert second.requests <= every_tag + list_pages
    for table in ("tags", "manifests", "index_children", "layers", "referrers"):
        assert rows(out, table, first.crawl_id) == rows(out, table, second.crawl_id), table
    # first_seen comes from the first crawl; last_seen is the second crawl's start
    for tag in dicts(out, "tags", second.crawl_id):
        assert tag["first_seen"] == first.started
        assert tag["last_seen"] == second.started


def test_cli_crawl_prints_summary_and_exits_0(registry: RegistryServer, sample_images: SampleSet, tmp_path: Path) -> None:
    load_commands()
    result = CliRunner().invoke(
        app, ["crawl", registry.url, "--out", str(tmp_path), "--repo", _only_sample(sample_images), "--max-in-flight", "8"]
    )
    assert result.exit_code == 0, result.output
    assert "complete" in result.stdout and "requests/s" in result.stdout
    assert f"{len(sample_images.repositories)} repositories" in result.stdout
    assert SnapshotStore(str(tmp_path)).committed_crawls()[0]["status"] == "complete"
    quiet = CliRunner().invoke(app, ["crawl", registry.url, "--out", str(tmp_path), "--repo", "^hello$", "--quiet"])
    assert quiet.exit_code == 0 and quiet.stdout == ""
