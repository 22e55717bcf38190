"""The plan command on a synthetic snapshot: outputs, formats, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from synthetic import RegistryModel
from typer.testing import CliRunner

from reginventory.cli.app import app
from reginventory.cli.main import load_commands

from .conftest import NOW, days_ago


def invoke(*args: str) -> Any:
    load_commands()
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    model = RegistryModel()
    for n in range(3):
        model.push("team-a/app", model.image(f"i{n}", [model.blob(f"l{n}", 100)], created=days_ago(100 + n)), f"pr-{n}")
    model.push("team-a/app", model.image("rel", [model.blob("rel", 100)], created=days_ago(300)), "v1.0.0")
    model.crawl(tmp_path / "snapshots", "c1", NOW)
    return tmp_path / "snapshots"


def test_plan_writes_json_and_renders_each_format(snapshot: Path, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("[[rules]]\nrepositories = '^team-'\ndelete_tags = '^pr-'\nolder_than_days = 90\n")
    out = tmp_path / "plan.json"
    result = invoke("plan", "--data", str(snapshot), "--policy", str(policy), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "# reginventory plan" in result.stdout and "3 manifests to delete" in result.stdout
    plan = json.loads(out.read_text())
    assert plan["counts"]["delete"] == 3 and plan["checksum"].startswith("sha256:")
    assert {a["tags"][0] for a in plan["actions"]} == {"pr-0", "pr-1", "pr-2"}
    for fmt, needle in (("html", "<!DOCTYPE html>"), ("sh", "#!/bin/sh"), ("sync", "no copy actions")):
        target = tmp_path / f"plan.{fmt}"
        result = invoke("plan", "--data", str(snapshot), "--policy", str(policy), "--format", fmt, "--output", str(target))
        assert result.exit_code == 0, result.output
        assert needle in target.read_text()


def test_bad_policy_is_one_line_naming_file_line_and_rule(snapshot: Path, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("[[rules]]\nrepositories = '^team-'\nkeep_tags = '(unclosed'\n")
    result = invoke("plan", "--data", str(snapshot), "--policy", str(policy))
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {policy}:3: rules[1].keep_tags: bad regex")


def test_apply_refuses_an_edited_plan(snapshot: Path, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("[[rules]]\nrepositories = '^team-'\ndelete_tags = '^pr-'\n")
    out = tmp_path / "plan.json"
    assert invoke("plan", "--data", str(snapshot), "--policy", str(policy), "--out", str(out)).exit_code == 0
    data = json.loads(out.read_text())
    data["actions"] = data["actions"][:1]
    out.write_text(json.dumps(data))
    result = invoke("apply", str(out), "--yes", "--no-docker-config")
    assert result.exit_code == 1 and "fails its checksum" in result.output
