"""Opening snapshots: crawl selection, committed crawls only, empty tables, bad input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from benchmarks.synthetic import RegistryModel
from reginventory.analysis import open_inventory
from reginventory.errors import SnapshotError
from reginventory.inventory import schema
from reginventory.inventory.store import SnapshotStore
from tests.analysis.scenario import REGISTRY, Scenario

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


def small(root: Path, registry: str = REGISTRY, crawl_id: str = "c1", tag: str = "v1") -> RegistryModel:
    model = RegistryModel(registry)
    model.push("repo", model.image(f"img-{tag}", [model.blob("layer", 10)]), tag)
    model.crawl(root, crawl_id, T0)
    return model


def test_every_table_has_a_view_with_its_columns(scenario: Scenario) -> None:
    with open_inventory(scenario.root) as inv:
        for table, table_schema in schema.TABLES.items():
            for prefix in ("main.", "history.", "main.all_"):
                columns = [c[0] for c in inv.connection.sql(f"DESCRIBE {prefix}{table}").fetchall()]
                assert columns == table_schema.names, (prefix, table)
        assert inv.sql("SELECT count(*) AS n FROM errors")["n"][0] == 0  # no file: still a view


def test_latest_crawl_by_default_and_history(scenario: Scenario) -> None:
    with open_inventory(scenario.root) as inv:
        assert [c["crawl_id"] for c in inv.crawls] == ["c2"]
        assert [c["crawl_id"] for c in inv.history] == ["c1", "c2"]
        assert set(inv.sql("SELECT DISTINCT crawl_id FROM tags")["crawl_id"]) == {"c2"}
        assert set(inv.sql("SELECT DISTINCT crawl_id FROM history.tags")["crawl_id"]) == {"c1", "c2"}
        assert inv.sql("SELECT count(*) AS n FROM crawls")["n"][0] == 1


def test_readable_blob_views(scenario: Scenario) -> None:
    with open_inventory(scenario.root) as inv:
        blobs = inv.sql("SELECT digest, kind, size, \"foreign\" FROM blobs")
        by_digest = {r.digest: (r.kind, r.size, r.foreign) for r in blobs.itertuples()}
        assert by_digest[scenario.digest("cli_idx")] == ("manifest", 800, False)
        assert by_digest[scenario.model.blob("win", 0).digest] == ("layer", 100000, True)
        refs = inv.sql(
            "SELECT blob_digest FROM blob_refs WHERE repository = 'tools/cli' AND digest = $d",
            {"d": scenario.digest("cli_idx")},
        )
        children = {scenario.digest(n) for n in ("cli_idx", "cli_amd", "cli_arm", "at_amd", "at_arm")}
        assert set(refs["blob_digest"]) == children


def test_every_referenced_blob_is_named_once(scenario: Scenario) -> None:
    """keyed.blob_names (what reclaimable by blob and the blob_refs view name blobs with) holds
    every blob a manifest references, once, and the readable view loses no reference."""
    with open_inventory(scenario.root) as inv:
        counts = inv.sql(
            "SELECT (SELECT count(*) FROM keyed.blob_names) AS names, "
            "(SELECT count(DISTINCT blob_key) FROM keyed.blob_names) AS named_keys, "
            "(SELECT count(DISTINCT blob_key) FROM keyed.blob_refs) AS referenced, "
            "(SELECT count(*) FROM keyed.blob_refs) AS keyed_refs, "
            "(SELECT count(*) FROM blob_refs) AS readable_refs"
        ).iloc[0]
        assert counts["names"] == counts["named_keys"] == counts["referenced"] > 0
        assert counts["keyed_refs"] == counts["readable_refs"]
        kinds = dict(inv.sql("SELECT digest, kind FROM keyed.blob_names").itertuples(index=False))
        assert kinds[scenario.digest("cli_idx")] == "manifest"
        assert kinds[scenario.digest("cli_amd")] == "manifest"  # an index child
        assert kinds[scenario.model.blob("win", 0).digest] == "layer"


def test_unknown_crawl_lists_the_committed_ones(scenario: Scenario) -> None:
    with pytest.raises(SnapshotError, match="no committed crawl 'c9'; committed crawls: c1, c2"):
        open_inventory(scenario.root, crawl="c9")


def test_only_committed_crawls_are_visible(tmp_path: Path) -> None:
    small(tmp_path)
    store = SnapshotStore(str(tmp_path))
    staged = store.writer(REGISTRY, "c2")  # a crawl that never commits
    staged.add("tags", [{"repository": "repo", "tag": "ghost", "digest": "sha256:" + "0" * 64,
                         "media_type": "x", "first_seen": T0, "last_seen": T0}])
    staged.flush()
    half = store.writer(REGISTRY, "c3", shard=(0, 2))  # one of two shards committed
    half.add("tags", [{"repository": "repo", "tag": "half", "digest": "sha256:" + "1" * 64,
                       "media_type": "x", "first_seen": T0, "last_seen": T0}])
    half.commit({"started": T0 + dt.timedelta(days=2), "finished": T0 + dt.timedelta(days=2),
                 "status": "complete", "mode": "full", "repositories": 1, "tags": 1,
                 "manifests": 0, "errors": 0, "requests": 0, "options": "{}", "tool_version": "t"})
    with open_inventory(tmp_path) as inv:
        assert [c["crawl_id"] for c in inv.history] == ["c1"]
        assert list(inv.run("tags")["tag"]) == ["v1"]
        assert inv.sql("SELECT count(*) AS n FROM history.tags")["n"][0] == 1


def test_several_registries(tmp_path: Path) -> None:
    small(tmp_path, "a.test", "c1", "v1")
    small(tmp_path, "b.test:5000", "c7", "v2")
    with open_inventory(tmp_path) as inv:
        assert inv.registries == ["a.test", "b.test:5000"]
        assert sorted(inv.run("tags")["registry"]) == ["a.test", "b.test:5000"]
        growth = inv.run("growth")
        assert sorted(growth["to_crawl"]) == ["c1", "c7"]
    with open_inventory(tmp_path, registry="b.test:5000") as inv:
        assert list(inv.run("tags")["tag"]) == ["v2"]
    with pytest.raises(SnapshotError, match="no snapshot of registry 'c.test'"):
        open_inventory(tmp_path, registry="c.test")


def test_no_snapshot_folder(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match=f"no snapshot folder at {tmp_path / 'missing'}"):
        open_inventory(tmp_path / "missing")
    with pytest.raises(SnapshotError, match=f"no committed snapshot in {tmp_path}"):
        open_inventory(tmp_path)


def test_corrupt_parquet_names_the_file(tmp_path: Path) -> None:
    small(tmp_path)
    [part] = list((tmp_path / "layers").rglob("*.parquet"))
    part.write_bytes(b"this is not parquet")
    with pytest.raises(SnapshotError, match=f"corrupt Parquet file {part}"):
        open_inventory(tmp_path)


def test_a_part_file_without_a_column(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    small(tmp_path)
    [part] = list((tmp_path / "tags").rglob("*.parquet"))
    pq.write_table(pq.read_table(part).drop_columns(["media_type"]), part)
    with pytest.raises(SnapshotError, match=f"{part}: table tags lacks column\\(s\\) media_type"):
        open_inventory(tmp_path)


def test_part_files_whose_columns_differ_are_read_by_name(tmp_path: Path) -> None:
    """A newer writer's extra or reordered columns do not shift an older file's values."""
    import pyarrow.parquet as pq

    small(tmp_path, crawl_id="c1", tag="v1")
    small(tmp_path, crawl_id="c2", tag="v2")
    part = sorted((tmp_path / "tags").rglob("*.parquet"))[-1]
    table = pq.read_table(part)
    reordered = table.select(list(reversed(table.column_names)))
    pq.write_table(reordered.append_column("written_by", pa.array(["future"] * table.num_rows)), part)
    with open_inventory(tmp_path) as inv:
        rows = inv.sql("SELECT crawl_id, tag, media_type FROM history.tags ORDER BY crawl_id")
    assert rows["tag"].tolist() == ["v1", "v2"]
    assert rows["crawl_id"].tolist() == ["c1", "c2"]
    assert rows["media_type"].str.startswith("application/").all()


@pytest.mark.slow
def test_object_store(s3_url: str) -> None:
    small(s3_url)  # type: ignore[arg-type]
    with open_inventory(s3_url) as inv:
        assert inv.run("repo_sizes")["size"].tolist() == [10 + 100 + 500]
