"""Every command is documented: --help works and ends with an example."""

from __future__ import annotations

from typing import Any

from reginventory.cli.app import app
from reginventory.cli.main import load_commands


def test_every_command_has_help_with_an_example(cli: Any) -> None:
    load_commands()
    names = sorted(c.name for c in app.registered_commands if c.name)
    assert {"ls", "tags", "digest", "size", "inspect"} <= set(names)
    for name in names:
        result = cli(name, "--help")
        assert result.exit_code == 0, name
        assert "Example:" in result.stdout and "reginventory " + name in result.stdout, name


def test_top_level_help(cli: Any) -> None:
    result = cli("--help")
    assert result.exit_code == 0 and "ls" in result.stdout
