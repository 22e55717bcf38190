"""The ``reginventory`` entry point: imports the command modules so their commands register on the app.

A command line that names a command imports only that command's module: the registry commands
(``copy``, ``pull``, ``ls``...) then start without pandas, pyarrow, DuckDB and Jinja, which the
inventory commands need and which cost over a second of CPU to import. ``--help`` or an unknown
command loads every module.
"""

from __future__ import annotations

import gc
import importlib
import sys
from typing import Sequence

from reginventory.cli.app import app

#: Command modules; each registers its commands on ``app`` when imported.
COMMAND_MODULES = ("read", "write", "crawl", "query", "report", "plan")
#: Which module registers each command (a test checks this against the registered commands).
COMMANDS = {
    "ls": "read", "tags": "read", "digest": "read", "size": "read", "inspect": "read",
    "copy": "write", "tag": "write", "untag": "write", "delete": "write", "pull": "write", "push": "write",
    "crawl": "crawl", "query": "query", "report": "report", "plan": "plan", "apply": "plan",
}


def _import(name: str) -> None:
    try:
        importlib.import_module(f"reginventory.cli.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"reginventory.cli.{name}":
            raise


def load_commands(argv: Sequence[str] | None = None) -> None:
    """Import the module of the command ``argv`` names (the app has no global options), else all."""
    module = COMMANDS.get(argv[0]) if argv else None
    for name in (module,) if module else COMMAND_MODULES:
        _import(name)


def _import_parameter_coercion() -> None:
    """typer converts every parameter but boolean flags through pydantic, which it imports on the
    first one: imported here instead, with the collector off (the start of a copy: ~70 ms less)."""
    try:
        importlib.import_module("typer._adapters")
    except ImportError:  # another typer: it imports what it needs itself
        pass


def main() -> None:
    # What the imports create lives until the process exits: the collector need not go through
    # it while importing (~5% of the start), nor at every full collection of a long copy.
    gc.disable()
    load_commands(sys.argv[1:])
    _import_parameter_coercion()
    gc.freeze()
    gc.enable()
    app()
