"""The ``reginventory`` entry point: imports every command module so it registers on the app."""

from __future__ import annotations

import importlib

from reginventory.cli.app import app

#: Command modules; each registers its commands on ``app`` when imported.
COMMAND_MODULES = ("read", "write", "crawl", "query", "report", "plan")


def load_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            importlib.import_module(f"reginventory.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"reginventory.cli.{name}":
                raise


def main() -> None:
    load_commands()
    app()
