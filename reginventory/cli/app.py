"""The Typer application and what every command shares: exit codes and error handling.

Exit codes mean the same for every command: 0 ok, 1 error, 2 usage, 3 partial (something was
skipped and recorded). Only this module turns exceptions into exit codes and one-line messages.
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable, TypeVar

import typer

from reginventory.errors import RegInventoryError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3

app = typer.Typer(
    name="reginventory",
    help="Inventory container registries, find what can go, and clean up safely.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # a traceback must never print a password
    rich_markup_mode=None,  # help texts say os/arch[/variant]: brackets are text, not markup
    context_settings={"help_option_names": ["-h", "--help"]},
)

F = TypeVar("F", bound=Callable[..., Any])


@app.callback()
def _group() -> None:
    """Keeps ``app`` a group of commands when the entry point imported only one command's module
    (Typer would otherwise run a lone command without its name)."""


def fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    """Print a one-line error to stderr and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def handle_errors(func: F) -> F:
    """Turn reginventory's exceptions into one line on stderr and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except RegInventoryError as exc:
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        except BrokenPipeError:
            sys.stderr.close()
            raise typer.Exit(EXIT_OK) from None

    return wrapper  # type: ignore[return-value]
