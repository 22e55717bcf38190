"""Plans through templates: Markdown, HTML (escaped), a shell script that parses, sync YAML."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from synthetic import RegistryModel

from reginventory.errors import ConfigError
from reginventory.plan.planfile import seal
from reginventory.plan.render import plan_view, render

from .conftest import days_ago

POLICY = """
[protect]
tags = '^latest$'

[[rules]]
repositories = '^team-'
keep_tags = '^v[0-9]+|<script>'

[[copy]]
repositories = '^team-'
tags = '^v'
destination = 'backup.example:5000'
destination_repository = 'mirror/{repository}'
"""


@pytest.fixture
def plan(plan_of: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    model = RegistryModel()
    image = model.push("team-a/app", model.image("a", [model.blob("a", 10)], created=days_ago(10)), "v1", "pr-1")
    model.push("team-a/app", model.image("b", [model.blob("b", 2000)], created=days_ago(20)), "pr-2", "latest-x")
    model.sign("team-a/app", model.push("team-a/app", model.image("c", [model.blob("c", 30)], created=days_ago(30)), "pr-3"), "s")
    model.push("team-a/app", image, "latest")
    return seal(plan_of(model, POLICY))


def test_markdown(plan: dict[str, Any]) -> None:
    text = render(plan, "md")
    assert text.startswith("# reginventory plan\n")
    assert "| 127.0.0.1" not in text and "registry.test:5000/team-a/app" in text
    assert "untag" in text and "pr-1" in text and "image kept: tag latest stays" in text
    assert f"({plan['reclaimable_bytes']} bytes)" in text
    assert "garbage-collect" in text and "--delete-untagged" in text
    assert r"keep_tags '^v[0-9]+\|<script>'" in text  # pipes escaped in table cells, no HTML escaping
    assert "(dry run: nothing deleted)" in render(plan, "md", dry_run=True)


def test_html_is_escaped(plan: dict[str, Any]) -> None:
    text = render(plan, "html")
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert f'data-bytes="{plan["reclaimable_bytes"]}"' in text


def test_shell_script_pins_digests_and_parses(plan: dict[str, Any], tmp_path: Path) -> None:
    text = render(plan, "sh")
    deletes = [a for a in plan["actions"] if a["action"] == "delete"]
    for action in deletes:
        assert f"docker://{action['registry']}/{action['repository']}@{action['digest']}" in text
    assert "unchanged registry.test:5000/team-a/app:pr-2 sha256:" in text
    assert "regctl tag delete registry.test:5000/team-a/app:pr-1" in text.replace("$REGCTL", "regctl")
    assert "skopeo copy --all --preserve-digests" in text.replace("$SKOPEO", "skopeo")
    script = tmp_path / "plan.sh"
    script.write_text(text)
    assert subprocess.run(["sh", "-n", str(script)], capture_output=True).returncode == 0
    if shutil.which("bash"):
        assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0


def test_sync_yaml(plan: dict[str, Any]) -> None:
    data = yaml.safe_load(render(plan, "sync"))
    assert data == {"registry.test:5000": {"images": {"team-a/app": ["v1"]}}}


def test_user_templates(plan: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "plan.csv.j2").write_text(
        "{% for g in plan.groups %}{% for a in g.actions %}{{ a.id }},{{ a.action }},{{ a.digest }}\n{% endfor %}{% endfor %}"
    )
    lines = render(plan, "csv", template_dirs=[tmp_path]).splitlines()
    assert len(lines) == len([a for a in plan["actions"] if a["action"] != "copy"])
    assert render(plan, str(tmp_path / "plan.csv.j2")).splitlines() == lines
    with pytest.raises(ConfigError, match="no plan template for format 'pdf'"):
        render(plan, "pdf")


def test_view_groups_checks(plan: dict[str, Any]) -> None:
    view = plan_view(plan)
    group = next(g for g in view["groups"] if len(g["actions"]) == 2)
    assert [a["action"] for a in group["actions"]] == ["delete", "delete"]
    assert group["checks"] and all(digest.startswith("sha256:") for _, digest in group["checks"])
    # the shell script resolves each repository once, before its first delete group
    deleting = [g for g in view["groups"] if g["digests"]]
    assert [g["resolve"] for g in deleting] == [True] + [False] * (len(deleting) - 1)
    assert not any(g["resolve"] for g in view["groups"] if not g["digests"])
    assert render(plan, "sh").count("\nresolve ") == 1
