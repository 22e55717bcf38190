"""CLI tests run the real Typer app in-process (CliRunner) with every command loaded."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from reginventory.cli.app import app
from reginventory.cli.main import load_commands


@pytest.fixture
def cli() -> object:
    """Invoke the CLI: ``cli("ls", host, input=...)`` returns the click Result."""
    load_commands()
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> object:
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    return invoke
