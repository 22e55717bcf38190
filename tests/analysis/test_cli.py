"""``reginventory query``: listing, formats, and one-line errors with the right exit codes."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import reginventory.cli.query  # noqa: F401  (registers the command)
from reginventory.cli.app import app
from reginventory.cli.main import load_commands

load_commands()  # with one command only, Typer would take "query" for an argument
from tests.analysis.scenario import Scenario


def run(*args: str) -> Any:
    return CliRunner().invoke(app, ["query", *args])


def test_list() -> None:
    result = run("--list")
    assert result.exit_code == 0
    assert "stale_tags: tags whose image is older" in result.stdout
    assert "--param days INTEGER = 90: minimum age in days" in result.stdout
    listed = json.loads(run("--list", "--format", "json").stdout)
    stale = next(q for q in listed if q["name"] == "stale_tags")
    assert {"name": "days", "type": "INTEGER", "required": False, "default": 90, "choices": [],
            "doc": "minimum age in days"} in stale["params"]
    assert stale["columns"][0] == {"name": "registry", "type": "VARCHAR", "doc": "the registry host"}


def test_json_is_a_list_of_objects_with_iso_timestamps(scenario: Scenario) -> None:
    result = run("tags", "--data", str(scenario.root), "--format", "json")
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    first = records[0]
    assert list(first) == ["registry", "repository", "tag", "digest", "media_type", "kind",
                           "created", "size", "platforms", "first_seen", "last_seen"]
    assert first["created"] == "2023-01-01T00:00:00Z"
    assert first["first_seen"] == "2024-01-01T00:00:00Z"
    assert first["platforms"] == ["linux/amd64"]


def test_params_crawl_and_csv(scenario: Scenario) -> None:
    result = run("stale_tags", "--data", str(scenario.root), "--crawl", "c1", "--format", "csv",
                 "--param", "days=300", "--param", "keep=0", "-p", "as_of=2024-01-01")
    assert result.exit_code == 0, result.output
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["repository"], r["tag"]) for r in table] == [
        ("library/base", "1.0"), ("library/os", "1"), ("team/app", "v0"), ("team/app", "v1"),
        ("tools/cli", "1.0")]
    assert table[0]["kept_tags"] == '["latest"]'


def test_table_and_parquet(scenario: Scenario, tmp_path: Path) -> None:
    result = run("repo_sizes", "--data", str(scenario.root))
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].split() == [
        "registry", "repository", "tags", "images", "manifests", "blobs", "size", "unique_size",
        "shared_size"]
    assert result.stdout.rstrip().endswith("(7 rows)")
    out = tmp_path / "sizes.parquet"
    assert run("repo_sizes", "--data", str(scenario.root), "--format", "parquet", "--out", str(out)).exit_code == 0
    assert pq.read_table(out).num_rows == 7


def test_reclaimable_from_a_plan_file(scenario: Scenario, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"actions": [
        {"action": "delete", "repository": "win/app", "digest": scenario.digest("img_w")}]}))
    result = run("reclaimable", "--data", str(scenario.root), "--param", f"deletions={plan}",
                 "--param", "by=registry", "--format", "json")
    assert result.exit_code == 0, result.output
    assert [(r["blobs"], r["size"]) for r in json.loads(result.stdout)] == [(3, 680)]


@pytest.mark.parametrize("args, code, message", [
    (("nope", "--data", "{root}"), 1, "error: unknown query 'nope'; available queries: base_images"),
    (("stale_tags", "--data", "{root}", "--param", "days=soon"), 1,
     "error: parameter days (INTEGER): expected an integer, got 'soon'"),
    (("reclaimable", "--data", "{root}"), 1, "error: query reclaimable needs parameter deletions (DELETIONS)"),
    (("tags", "--data", "{root}/nowhere"), 1, "error: no snapshot folder at"),
    (("tags",), 2, "error: --data is required"),
    ((), 2, "error: name a query, or use --list"),
    (("tags", "--data", "{root}", "--format", "xml"), 2, "error: --format xml: expected one of"),
    (("tags", "--data", "{root}", "--format", "parquet"), 2, "error: --format parquet needs --out"),
])
def test_errors(scenario: Scenario, args: tuple[str, ...], code: int, message: str) -> None:
    result = run(*(a.replace("{root}", str(scenario.root)) for a in args))
    assert result.exit_code == code, result.output
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
