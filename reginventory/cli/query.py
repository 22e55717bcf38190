"""``reginventory query``: run one of the queries of ``queries/`` on a snapshot folder.

No ``from __future__ import annotations`` here: Typer reads the ``Annotated`` metadata.
"""

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from reginventory.analysis import list_queries, open_inventory
from reginventory.analysis.catalog import Query
from reginventory.analysis.output import FORMATS, render, write_parquet
from reginventory.analysis.params import parse_assignments
from reginventory.cli.app import EXIT_USAGE, app, fail, handle_errors


def _describe(query: Query) -> str:
    lines = [f"{query.name}: {query.summary}"]
    for param in query.params:
        lines.append(f"    --param {param.describe()}: {param.doc}")
    lines.append("    columns: " + ", ".join(c.name for c in query.columns))
    return "\n".join(lines)


def _as_json(query: Query) -> dict[str, object]:
    return {
        "name": query.name,
        "summary": query.summary,
        "description": query.description,
        "params": [
            {"name": p.name, "type": p.type, "required": p.required,
             "default": None if p.required else repr(p.default) if not isinstance(
                 p.default, (str, int, float, bool, list, type(None))) else p.default,
             "choices": list(p.choices), "doc": p.doc}
            for p in query.params
        ],
        "columns": [{"name": c.name, "type": c.type, "doc": c.doc} for c in query.columns],
    }


@app.command("query")
@handle_errors
def query_command(
    name: Annotated[Optional[str], typer.Argument(help="The query to run (see --list).")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the queries, their parameters and columns.")] = False,
    data: Annotated[
        Optional[str], typer.Option("--data", "-d", help="Snapshot folder or object-store URL (s3://bucket/prefix).")
    ] = None,
    crawl: Annotated[Optional[str], typer.Option("--crawl", help="Crawl id to read (default: the latest of each registry).")] = None,
    registry: Annotated[Optional[str], typer.Option("--registry", help="Only this registry's snapshots.")] = None,
    param: Annotated[
        Optional[list[str]], typer.Option("--param", "-p", help="A parameter as key=value (repeatable).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help=f"Output format: {'|'.join(FORMATS)}.")] = "table",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write to this file instead of standard output.")] = None,
) -> None:
    """Run a query on the snapshots and print its rows.

    JSON is a list of objects with the query's documented columns; timestamps are ISO 8601 UTC.
    Parquet needs --out.

    Example: reginventory query stale_tags --data snapshots/ --param days=30 --param keep=5 --format json
    """
    if fmt not in FORMATS:
        raise fail(f"--format {fmt}: expected one of {', '.join(FORMATS)}", EXIT_USAGE)
    if list_:
        queries = list_queries()
        if fmt == "json":
            text = json.dumps([_as_json(q) for q in queries], indent=2) + "\n"
        else:
            text = "\n".join(_describe(q) for q in queries) + "\n"
        _emit(text, out)
        return
    if name is None:
        raise fail("name a query, or use --list to see them", EXIT_USAGE)
    if data is None:
        raise fail("--data is required: the snapshot folder or URL", EXIT_USAGE)
    if fmt == "parquet" and out is None:
        raise fail("--format parquet needs --out FILE", EXIT_USAGE)
    with open_inventory(data, crawl, registry=registry) as inventory:
        query = inventory.query(name)
        values = parse_assignments(query, list(param or []))
        result = inventory.run_arrow(name, values)
    if fmt == "parquet":
        assert out is not None
        write_parquet(result, out)
        return
    _emit(render(result, fmt), out)


def _emit(text: str, out: Optional[Path]) -> None:
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
