"""The synthetic generator at a small size: every query runs, and reclaimable agrees with a
plain-Python garbage collection over the same snapshot."""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

import pytest

from benchmarks.synthetic import generate
from reginventory.analysis import Inventory, open_inventory


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inventory]:
    root = tmp_path_factory.mktemp("synthetic")
    generate(root, tags=1500, repos=30, crawls=3, seed=7, multiarch=0.3, windows=0.1)
    with open_inventory(root) as inv:
        yield inv


def test_generator_is_deterministic(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", tags=200, repos=5, crawls=2, seed=3)
    b = generate(tmp_path / "b", tags=200, repos=5, crawls=2, seed=3)
    assert a == b


def test_every_query_finds_something(synthetic: Inventory) -> None:
    sample = synthetic.sql("SELECT registry, repository, digest FROM tags LIMIT 50")
    for query in synthetic.queries():
        params = {"deletions": sample} if query.name in ("reclaimable", "cascade") else {}
        assert synthetic.run_arrow(query.name, params).num_rows > 0, query.name
    kinds = set(synthetic.sql("SELECT DISTINCT kind FROM manifests")["kind"])
    assert {"image", "index", "attestation", "signature", "sbom"} <= kinds
    assert synthetic.sql("SELECT count(*) AS n FROM layers WHERE \"foreign\"")["n"][0] > 0
    assert len(synthetic.history) == 3


def gc_reference(inv: Inventory, deleted: set[tuple[str, str]]) -> dict[str, int]:
    """Mark and sweep as distribution does, in plain Python: the blobs that deleting frees."""
    con = inv.connection
    refs: dict[tuple[str, str], set[str]] = defaultdict(set)
    sizes: dict[str, int] = {}
    foreign: set[str] = set()
    layers: dict[str, list[tuple[str, int, bool]]] = defaultdict(list)
    for digest, layer, size, is_foreign in con.sql(
            'SELECT digest, layer_digest, size, "foreign" FROM layers').fetchall():
        layers[digest].append((layer, size, is_foreign))
    children: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for digest, child, size in con.sql(
            "SELECT digest, child_digest, child_size FROM index_children").fetchall():
        children[digest].append((child, size))
    for repo, digest, msize, config, csize in con.sql(
            "SELECT repository, digest, manifest_size, config_digest, config_size FROM manifests").fetchall():
        marks = refs[(repo, digest)]
        marks.add(digest)
        sizes[digest] = msize
        if config:
            marks.add(config)
            sizes[config] = csize
        for layer, size, is_foreign in layers[digest]:
            marks.add(layer)
            sizes[layer] = size
            if is_foreign:
                foreign.add(layer)
        for child, size in children[digest]:
            marks.add(child)
            sizes.setdefault(child, size)
    kept = set().union(*(m for r, m in refs.items() if r not in deleted))
    gone = set().union(*(m for r, m in refs.items() if r in deleted))
    return {b: sizes[b] for b in gone - kept - foreign}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reclaimable_matches_a_reference_collection(synthetic: Inventory, seed: int) -> None:
    revisions = synthetic.sql("SELECT registry, repository, digest FROM manifests")
    picked = revisions.sample(n=min(300, len(revisions)), random_state=seed)
    cascade = synthetic.run("cascade", deletions=picked)
    expanded = {(r.repository, r.digest) for r in cascade.itertuples()}
    assert {(r.repository, r.digest) for r in picked.itertuples()} <= expanded
    expected = gc_reference(synthetic, expanded)
    got = synthetic.run("reclaimable", deletions=picked)
    assert dict(zip(got["digest"], got["size"])) == expected
    total = synthetic.run("reclaimable", deletions=picked, by="registry")
    assert int(total["size"].sum()) == sum(expected.values())


def test_cascade_leaves_no_held_child_behind(synthetic: Inventory) -> None:
    """After the cascade, no deleted index leaves an untagged child that nothing else holds."""
    indexes = synthetic.sql("SELECT registry, repository, digest FROM manifests WHERE kind = 'index'")
    deletions = indexes.sample(n=min(20, len(indexes)), random_state=random.Random(5).randrange(100))
    cascade = synthetic.run("cascade", deletions=deletions)
    deleted = {(r.repository, r.digest) for r in cascade.itertuples()}
    con = synthetic.connection
    pairs = con.sql(
        "SELECT p.repository, c.digest, c.child_digest, m.tagged FROM index_children c "
        "JOIN manifests p ON p.digest = c.digest "
        "JOIN manifests m ON m.digest = c.child_digest AND m.repository = p.repository"
    ).fetchall()
    parents: dict[tuple[str, str], set[str]] = defaultdict(set)
    tagged: dict[tuple[str, str], bool] = {}
    for repo, index, child, is_tagged in pairs:
        parents[(repo, child)].add(index)
        tagged[(repo, child)] = is_tagged
    for (repo, child), held_by in parents.items():
        all_parents_gone = all((repo, p) in deleted for p in held_by)
        should_go = all_parents_gone and not tagged[(repo, child)]
        assert ((repo, child) in deleted) == should_go or (repo, child) in {
            (r.repository, r.digest) for r in deletions.itertuples()}
    referrers: list[Any] = con.sql("SELECT repository, digest, subject_digest FROM referrers").fetchall()
    for repo, digest, subject in referrers:
        if (repo, subject) in deleted:
            assert (repo, digest) in deleted
