"""Policy files: the issue's example as written, and bad input naming file, line and rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from reginventory.errors import ConfigError
from reginventory.plan import load_policy, parse_policy

ROOT = Path(__file__).resolve().parents[2]

ISSUE_EXAMPLE = r"""
[protect]
tags = '^latest$'

[[rules]]            # the 3 newest tags of every team repository, and every release, stay
repositories = '^team-'
keep_newest = 3
keep_tags = '^(main|v?[0-9]+\.[0-9]+\.[0-9]+)$'

[[rules]]            # CI builds older than 90 days go, everywhere
repositories = '.*'
delete_tags = '^(pr-[0-9]+|feature-.*|sha-[0-9a-f]+)$'
older_than_days = 90
"""


def test_the_issue_example_parses_as_written() -> None:
    policy = parse_policy(ISSUE_EXAMPLE, "policy.toml")
    first, second = policy.rules
    assert policy.protect.tag("latest") and not policy.protect.tag("latest-1")
    assert first.applies_to("r", "team-a/app") and not first.applies_to("r", "other/team-a")
    assert first.keep_newest == 3 and first.delete_tags is None and first.older_than_days is None
    assert first.keep_tags is not None and first.keep_tags.search("v1.2.3") and not first.keep_tags.search("v1.2")
    assert second.delete_tags is not None and second.delete_tags.search("sha-0af3")
    assert second.older_than_days == 90 and second.line == 10
    assert policy.sha256.startswith("sha256:") and policy.path == "policy.toml"


def test_the_shipped_example_parses() -> None:
    policy = load_policy(ROOT / "examples" / "policy.toml")
    assert len(policy.rules) == 2 and policy.dangling_referrers and policy.delete_referrers


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_policy(text, "policy.toml")
    return str(info.value)


def test_unknown_key_names_file_line_and_rule() -> None:
    message = _error(ISSUE_EXAMPLE + "keep_newset = 2\n")
    assert message.startswith("policy.toml:14: rules[2].keep_newset: unknown key; did you mean keep_newest?")


def test_bad_regex_names_file_line_and_rule() -> None:
    message = _error(ISSUE_EXAMPLE.replace("keep_tags = '^(main", "keep_tags = '^((main"))
    assert message.startswith("policy.toml:8: rules[1].keep_tags: bad regex")
    assert "missing )" in message


def test_bad_regex_in_protect() -> None:
    assert _error("[protect]\ntags = '*latest'\n").startswith("policy.toml:2: protect.tags: bad regex")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("delete_tags = '^pr-'\nkeep_tags = '^pr-'", "policy.toml:4: rules[1].keep_tags: contradictory rule"),
        ("keep_newest = -1", "policy.toml:3: rules[1].keep_newest: must be 0 or more"),
        ("keep_newest = 2.5", "policy.toml:3: rules[1].keep_newest: expected an integer"),
        ("older_than_days = '90'", "policy.toml:3: rules[1].older_than_days: expected a number of days"),
        ("older_than_days = 30\nkeep_younger_than_days = 60", "policy.toml:4: rules[1].keep_younger_than_days: contradictory"),
        ("exclude_repositories = '.*'", "policy.toml:1: rules[1].exclude_repositories: the rule matches no repository"),
        ("untagged = true", "policy.toml:3: rules[1].untagged: unknown key; untagged is a top-level key"),
        ("repositories = 3", "policy.toml:2: rules[1].repositories: expected a regular expression"),
    ],
)
def test_contradictory_or_mistyped_rules(body: str, expected: str) -> None:
    text = "[[rules]]\nrepositories = '.*'\n" + body + "\n"
    if body.startswith("repositories"):
        text = "[[rules]]\n" + body + "\n"
    if body.startswith("exclude"):
        text = "[[rules]]\nrepositories = '.*'\n" + body + "\n"
        expected = expected.replace("policy.toml:1:", "policy.toml:3:")
    assert _error(text).startswith(expected)


def test_missing_repositories_names_the_rule_header() -> None:
    assert _error("[[rules]]\nrepositories='a'\n\n[[rules]]\nkeep_newest = 1\n").startswith(
        "policy.toml:4: rules[2]: repositories is required"
    )


def test_invalid_toml_names_the_line() -> None:
    assert _error("[protect]\ntags = '^latest$\n").startswith("policy.toml:2: invalid TOML")


def test_unknown_top_level_key_and_table() -> None:
    assert _error("untaged = true\n").startswith("policy.toml:1: untaged: unknown key; did you mean untagged?")
    assert _error("[protekt]\ntags='x'\n").startswith("policy.toml:1: protekt: unknown key")


def test_copy_rules() -> None:
    policy = parse_policy(
        "[[copy]]\nrepositories = '^team-a/'\ntags = '^v'\ndestination = 'backup:5000'\n"
        "destination_repository = 'mirror/{repository}'\n"
    )
    (rule,) = policy.copies
    assert rule.target("team-a/app") == "mirror/team-a/app" and rule.selects("v1") and not rule.selects("main")
    assert _error("[[copy]]\nrepositories = 'x'\n").startswith("policy.toml:1: copy[1]: destination is required")
    assert "registry host only" in _error("[[copy]]\nrepositories = 'x'\ndestination = 'reg:5000/team'\n")


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read policy"):
        load_policy(tmp_path / "missing.toml")
