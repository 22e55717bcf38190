"""The derived-table cache: a cached open gives the rows of a fresh one; a bad file is rebuilt."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from reginventory.analysis import open_inventory
from reginventory.analysis.derived import CACHE_ENV, DERIVED_DIR, build_derived
from reginventory.analysis.keyed import KEYED_TABLES, PREVIOUS_TABLES
from tests.analysis.scenario import REGISTRY, Scenario

QUERIES = ("repo_sizes", "untagged", "stale_tags", "base_images", "shared_layers", "growth", "duplicates")


@pytest.fixture
def root(scenario: Scenario, tmp_path: Path) -> Path:
    """A private copy of the scenario, without any derived table."""
    copy = tmp_path / "store"
    shutil.copytree(scenario.root, copy, ignore=shutil.ignore_patterns(DERIVED_DIR))
    return copy


def contents(root: Path, cache: bool | None = True) -> dict[str, Any]:
    """Every keyed table (selected and previous crawl) and some queries, order-free."""
    with open_inventory(root, cache=cache) as inv:
        inv.prepare()
        con = inv.connection
        tables = {f"keyed.{n}": sorted(map(repr, con.sql(f"SELECT * FROM keyed.{n}").fetchall())) for n in KEYED_TABLES}
        tables |= {
            f"previous_keyed.{n}": sorted(map(repr, con.sql(f"SELECT * FROM previous_keyed.{n}").fetchall()))
            for n in PREVIOUS_TABLES
        }
        queries = {q: inv.run_arrow(q).to_pylist() for q in QUERIES}
    return {"tables": tables, "queries": queries}


def cache_files(root: Path) -> list[Path]:
    return sorted((root / DERIVED_DIR).rglob("*.parquet"))


def test_a_cached_open_gives_the_rows_of_a_fresh_one(root: Path) -> None:
    fresh = contents(root)  # builds and writes the cache
    files = cache_files(root)
    assert len(files) == len(KEYED_TABLES) + len(PREVIOUS_TABLES)
    assert {f.parent.name for f in files} == {"crawl_id=c1", "crawl_id=c2"}
    stamps = {f: f.stat().st_mtime_ns for f in files}
    assert contents(root) == fresh  # read from the cache
    assert {f: f.stat().st_mtime_ns for f in cache_files(root)} == stamps  # not rewritten


def test_the_cache_is_off_unless_asked_for(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CACHE_ENV, raising=False)
    plain = contents(root, cache=None)
    assert cache_files(root) == []  # nothing written into the user's snapshot folder
    monkeypatch.setenv(CACHE_ENV, "1")
    assert contents(root, cache=None) == plain
    assert len(cache_files(root)) == len(KEYED_TABLES) + len(PREVIOUS_TABLES)


def test_build_derived_writes_a_crawl_s_tables(root: Path) -> None:
    loaded = build_derived(root, REGISTRY, "c2")
    assert "tag_facts" in loaded
    selected = [f for f in cache_files(root) if f.parent.name == "crawl_id=c2"]
    assert len(selected) == len(KEYED_TABLES)
    with open_inventory(root, cache=True) as inv:
        assert inv.prepare(["tag_facts"]) == ["tag_facts"]  # from the cache: no dependency built


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other columns"])
def test_a_bad_cache_file_is_rebuilt_not_trusted(root: Path, damage: str) -> None:
    fresh = contents(root)
    target = next(f for f in cache_files(root) if f.name.startswith("blob_refs-") and f.parent.name == "crawl_id=c2")
    if damage == "garbage":
        target.write_bytes(b"not parquet")
    elif damage == "truncated":
        target.write_bytes(target.read_bytes()[:100])
    else:
        table = pq.read_table(target)
        pq.write_table(table.drop_columns([table.column_names[-1]]), target)
    assert contents(root) == fresh
    assert pq.read_table(target).num_rows == len(fresh["tables"]["keyed.blob_refs"])  # rewritten
