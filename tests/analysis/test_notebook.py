"""The notebook runs from top to bottom on snapshots crawled from a real registry, and is kept
without outputs in git.

The registry holds the harness sample set and a repository of this test whose tags the
notebook's ``stale_tags`` cell (keep 5, older than 180 days) finds stale: eight images on one
shared base layer, created in 2020, one tag more at each of three crawls.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from harness import BuiltManifest, ImageSpec, RegistryServer, SampleSet, build_image, make_layer, push
from reginventory.inventory.crawl import crawl
from reginventory.inventory.crawl_config import CrawlTarget

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "inventory.ipynb"
#: Appended to the executed copy: the notebook's own variables, for exact checks.
PROBE = """
import json
print("PROBE " + json.dumps({
    "repositories": sorted(sizes["repository"]),
    "growth": [[str(r["crawl"]), int(r["tags"]), round(r["GB added"] * 1e9), round(r["GB removed"] * 1e9)]
               for _, r in growth.iterrows()],
    "stale": sorted([r, t] for r, t in zip(stale["repository"], stale["tag"])),
    "deletions": sorted(deletions["digest"]),
}))
"""


def test_outputs_are_cleared() -> None:
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def new_blobs(item: BuiltManifest, shared: set[str]) -> int:
    """Bytes of the blobs of ``item`` (manifest included) that are not in ``shared``."""
    return sum(b.size for b in [item.manifest, *item.blobs()] if b.digest not in shared)


def outputs(notebook: Any, source_start: str) -> list[Any]:
    """The outputs of the code cell whose source starts with ``source_start``."""
    [cell] = [c for c in notebook.cells if c.cell_type == "code" and c.source.startswith(source_start)]
    return list(cell.outputs)


def text(outs: list[Any]) -> str:
    """Everything a cell printed or displayed as plain text."""
    return "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outs)


@pytest.mark.timeout(300)
def test_notebook_runs_on_a_crawled_registry(
    registry: RegistryServer, sample_images: SampleSet, unique_repo: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    base = make_layer({"notebook/base": "base\n" * 200})
    images = [build_image(ImageSpec(layers=[base, {f"notebook/{i}": f"{i}\n"}], created=f"2020-0{i}-01T00:00:00Z"))
              for i in range(1, 9)]
    repositories = (*sample_images.repositories, unique_repo)
    data = tmp_path / "snapshots"
    for i, item in enumerate(images[:6], 1):
        push(registry, item, unique_repo, f"t{i}", method="http")
    crawl(CrawlTarget(url=registry.host, use_docker_config=False, repositories=repositories), str(data))
    for i in (7, 8):
        push(registry, images[i - 1], unique_repo, f"t{i}", method="http")
        crawl(CrawlTarget(url=registry.host, use_docker_config=False, repositories=repositories), str(data))

    monkeypatch.setenv("REGINVENTORY_DATA", str(data))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(PROBE))
    nbclient.NotebookClient(notebook, timeout=240, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}}).execute()

    # signatures and referrers-API fallback indexes are tagged, but the crawler files them as referrers
    sample_tags = sum(p.item.kind in ("image", "index") for p in sample_images.pushed_tags())
    assert f"{sample_tags + 8} tags in {len(repositories)} repositories" in text(outputs(notebook, "tags = "))
    shown = text(outputs(notebook, "sizes = "))
    assert all(repository in shown for repository in repositories), shown
    for chart in ("top = ", "as_of = ", "fig, ax = "):  # bytes per repository, age, growth
        assert any("image/png" in o.get("data", {}) for o in outputs(notebook, chart)), chart

    [probe] = [line for line in text(outputs(notebook, PROBE)).splitlines() if line.startswith("PROBE ")]
    got = json.loads(probe.removeprefix("PROBE "))
    assert got["repositories"] == sorted(repositories)
    crawl_ids = [step[0] for step in got["growth"]]
    assert got["growth"] == [  # one step per pair of crawls: the new tag's own blobs come, nothing goes
        [crawl_ids[0], sample_tags + 7, new_blobs(images[6], {base.digest}), 0],
        [crawl_ids[1], sample_tags + 8, new_blobs(images[7], {base.digest}), 0],
    ]
    # keep 5 of 8 in the test's repository; the sample repositories have at most 5 tags each
    assert got["stale"] == [[unique_repo, f"t{i}"] for i in (1, 2, 3)]
    assert got["deletions"] == sorted(item.digest for item in images[:3])
    freed = sum(new_blobs(item, {base.digest}) for item in images[:3])  # the base layer stays
    shown = text(outputs(notebook, "# What deleting"))
    assert re.search(rf"\b9\s+{freed}\s*$", shown, re.M), shown  # manifest, config, own layer of each
