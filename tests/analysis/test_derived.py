"""The derived-table cache: a cached open gives the rows of a fresh one; a bad file is rebuilt;
a crawl writes it and prunes old crawls' caches; a cache that cannot be written fails nothing."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
from harness.images import push, random_image
from harness.registry import RegistryServer

from typer.testing import CliRunner

from reginventory.analysis import derived, open_inventory
from reginventory.analysis.derived import ATTACHED_COMMENT, CACHE_ENV, DERIVED_DIR, build_derived
from reginventory.analysis.keyed import KEYED_TABLES, PREVIOUS_TABLES
from reginventory.cli.main import app, load_commands
from reginventory.inventory.crawl import crawl
from reginventory.inventory.crawl_config import CrawlOptions, CrawlTarget
from tests.analysis.scenario import REGISTRY, Scenario

#: Every cache file of the scenario: the selected crawl's tables and the previous crawl's.
ALL_FILES = len(KEYED_TABLES) + len(PREVIOUS_TABLES)


@pytest.fixture
def root(scenario: Scenario, tmp_path: Path) -> Path:
    """A private copy of the scenario, without any derived table."""
    copy = tmp_path / "store"
    shutil.copytree(scenario.root, copy, ignore=shutil.ignore_patterns(DERIVED_DIR))
    return copy


@pytest.fixture(autouse=True)
def default_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CACHE_ENV, raising=False)


def contents(root: Path, scenario: Scenario, cache: bool | None = None) -> dict[str, Any]:
    """Every keyed table (selected and previous crawl) and every query, order-free."""
    deletions = [("team/app", scenario.digest("app_v1")), ("team/app", scenario.digest("app_v2"))]
    with open_inventory(root, cache=cache) as inv:
        inv.prepare()
        con = inv.connection
        tables = {f"keyed.{n}": sorted(map(repr, con.sql(f"SELECT * FROM keyed.{n}").fetchall())) for n in KEYED_TABLES}
        tables |= {
            f"previous_keyed.{n}": sorted(map(repr, con.sql(f"SELECT * FROM previous_keyed.{n}").fetchall()))
            for n in PREVIOUS_TABLES
        }
        queries = {
            q.name: sorted(map(repr, inv.run_arrow(q.name, {"deletions": deletions} if q.name in ("cascade", "reclaimable") else {}).to_pylist()))
            for q in inv.queries()
        }
    return {"tables": tables, "queries": queries}


def cache_files(root: Path) -> list[Path]:
    return sorted((root / DERIVED_DIR).rglob("*.duckdb"))


def attached_views(root: Path, cache: bool | None = None) -> set[str]:
    """The keyed views an open reads from the cache, once everything is loaded."""
    with open_inventory(root, cache=cache) as inv:
        inv.prepare()
        return {f"{s}.{v}" for s, v in inv.connection.execute(
            "SELECT schema_name, view_name FROM duckdb_views() WHERE comment = ?", [ATTACHED_COMMENT]
        ).fetchall()}


def test_a_cached_open_gives_the_rows_of_a_fresh_one(root: Path, scenario: Scenario) -> None:
    fresh = contents(root, scenario, cache=False)
    assert cache_files(root) == []
    assert contents(root, scenario, cache=True) == fresh  # builds and writes the cache
    files = cache_files(root)
    assert len(files) == ALL_FILES
    assert {f.parent.name for f in files} == {"crawl_id=c1", "crawl_id=c2"}
    stamps = {f: f.stat().st_mtime_ns for f in files}
    assert contents(root, scenario) == fresh  # read from the cache, in place
    assert len(attached_views(root)) == ALL_FILES
    assert {f: f.stat().st_mtime_ns for f in cache_files(root)} == stamps  # not rewritten


def test_an_open_reads_the_cache_but_writes_it_only_when_asked(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert attached_views(root) == set()
    assert cache_files(root) == []  # nothing written into the user's snapshot folder uninvited
    monkeypatch.setenv(CACHE_ENV, "1")
    assert attached_views(root) == set()  # built, and written
    assert len(cache_files(root)) == ALL_FILES
    monkeypatch.delenv(CACHE_ENV)
    assert len(attached_views(root)) == ALL_FILES  # read by default
    monkeypatch.setenv(CACHE_ENV, "0")
    assert attached_views(root) == set()  # off: not even read
    assert attached_views(root, cache=True) != set()  # the argument wins over the environment


def test_build_derived_writes_a_crawl_s_tables(root: Path) -> None:
    loaded = build_derived(root, REGISTRY, "c2")
    assert "tag_facts" in loaded
    selected = [f for f in cache_files(root) if f.parent.name == "crawl_id=c2"]
    assert len(selected) == len(KEYED_TABLES)
    with open_inventory(root) as inv:
        assert inv.prepare(["tag_facts"]) == ["tag_facts"]  # attached: no dependency built
        assert inv.connection.sql("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'keyed'").fetchall() == [(0,)]


def write_other_columns(path: Path) -> None:
    """The same table with its last column dropped."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{path}' AS f")
    name = path.name.split("-")[0]
    last = con.execute(f"DESCRIBE f.{name}").fetchall()[-1][0]
    con.execute(f'ALTER TABLE f.{name} DROP COLUMN "{last}"')
    con.close()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "short by a block", "other columns", "empty"])
def test_a_bad_cache_file_is_rebuilt_not_trusted(root: Path, scenario: Scenario, damage: str) -> None:
    fresh = contents(root, scenario, cache=True)
    target = next(f for f in cache_files(root) if f.name.startswith("blob_refs-") and f.parent.name == "crawl_id=c2")
    data = target.read_bytes()
    if damage == "garbage":
        target.write_bytes(b"not a database" * 1000)
    elif damage == "truncated":
        target.write_bytes(data[: len(data) // 2])
    elif damage == "short by a block":
        target.write_bytes(data[:-4096])
    elif damage == "empty":
        target.write_bytes(b"")
    else:
        write_other_columns(target)
    assert "keyed.blob_refs" not in attached_views(root)  # read mode: ignored, not trusted
    assert contents(root, scenario) == fresh
    assert contents(root, scenario, cache=True) == fresh  # rebuilt and written again
    assert "keyed.blob_refs" in attached_views(root)
    con = duckdb.connect()
    con.execute(f"ATTACH '{target}' AS f (READ_ONLY)")
    assert con.sql("SELECT count(*) FROM f.blob_refs").fetchall() == [(len(fresh["tables"]["keyed.blob_refs"]),)]


def test_an_unwritable_cache_fails_no_query(root: Path, scenario: Scenario) -> None:
    fresh = contents(root, scenario, cache=False)
    (root / DERIVED_DIR).write_text("a file where the cache folder would be")
    assert contents(root, scenario, cache=True) == fresh
    assert (root / DERIVED_DIR).read_text().startswith("a file")


def test_older_fingerprints_are_replaced(root: Path) -> None:
    build_derived(root, REGISTRY, "c2")
    current = next(f for f in cache_files(root) if f.name.startswith("tags-") and f.parent.name == "crawl_id=c2")
    older = current.with_name("tags-0123456789abcdef.parquet")
    older.write_bytes(b"the previous format")
    current.unlink()
    build_derived(root, REGISTRY, "c2")
    assert current.is_file() and not older.exists()


# -- the crawl ------------------------------------------------------------------------------------


def crawl_folders(out: Path) -> set[str]:
    folder = out / DERIVED_DIR
    return {p.name for p in folder.glob("registry=*/crawl_id=*")} if folder.is_dir() else set()


def crawl_repo(server: RegistryServer, repository: str, out: Path, crawl_id: str, **options: Any) -> None:
    target = CrawlTarget(url=server.host, use_docker_config=False, repo=f"^{re.escape(repository)}$")
    [result] = crawl(target, str(out), CrawlOptions(crawl_id=crawl_id, **options))
    assert result.committed


def test_a_crawl_writes_the_cache_and_keeps_the_newest_two(registry: RegistryServer, unique_repo: str, tmp_path: Path) -> None:
    out = tmp_path / "snapshots"
    push(registry, random_image(64, seed=1), unique_repo, "v1", method="http")
    crawl_repo(registry, unique_repo, out, "k1")
    assert crawl_folders(out) == {"crawl_id=k1"}
    assert len(cache_files(out)) == len(KEYED_TABLES)
    (out / "notes.txt").write_text("outside _derived")
    push(registry, random_image(64, seed=2), unique_repo, "v2", method="http")
    crawl_repo(registry, unique_repo, out, "k2")
    crawl_repo(registry, unique_repo, out, "k3")
    assert crawl_folders(out) == {"crawl_id=k2", "crawl_id=k3"}
    assert (out / "notes.txt").read_text() == "outside _derived"
    # What a report reads is cached: the selected crawl's tables and growth's previous ones.
    assert len(attached_views(out)) == ALL_FILES
    with open_inventory(out, "k1") as inv:  # the pruned crawl's snapshot is untouched
        assert inv.prepare(["tags"]) == ["tags"]
        assert not derived.attached(inv.connection, "keyed")  # built: its cache was pruned
        assert inv.run_arrow("tags").num_rows == 1


def test_crawl_no_derived_skips_the_cache(registry: RegistryServer, unique_repo: str, tmp_path: Path) -> None:
    out = tmp_path / "snapshots"
    push(registry, random_image(64, seed=3), unique_repo, "v1", method="http")
    load_commands()
    result = CliRunner().invoke(
        app, ["crawl", registry.url, "--out", str(out), "--repo", f"^{re.escape(unique_repo)}$", "--quiet", "--no-derived"]
    )
    assert result.exit_code == 0, result.output
    assert crawl_folders(out) == set()
    with open_inventory(out) as inv:
        assert inv.run_arrow("tags").num_rows == 1


def test_a_cache_that_cannot_be_built_fails_no_crawl(
    registry: RegistryServer, unique_repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "snapshots"
    out.mkdir()
    (out / DERIVED_DIR).write_text("a file where the cache folder would be")
    push(registry, random_image(64, seed=4), unique_repo, "v1", method="http")
    crawl_repo(registry, unique_repo, out, "u1")  # the files cannot be written: skipped quietly
    assert (out / DERIVED_DIR).is_file()

    def broken(*args: Any) -> list[str]:
        raise duckdb.IOException("disk on fire")

    monkeypatch.setattr(derived, "build_derived", broken)
    with pytest.warns(UserWarning, match="disk on fire"):
        crawl_repo(registry, unique_repo, out, "u2")
    with open_inventory(out) as inv:
        assert inv.crawls[0]["crawl_id"] == "u2"
        assert inv.run_arrow("tags").num_rows == 1
