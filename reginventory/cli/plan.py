"""``plan`` and ``apply``: a policy and a snapshot into a reviewable plan, and the plan applied."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Annotated, Any, Callable, Optional, TypeVar

import typer

from reginventory.analysis import open_inventory
from reginventory.cli.app import EXIT_OK, app, handle_errors
from reginventory.cli.options import Connection, with_connection
from reginventory.plan.applier import (
    DEFAULT_CONCURRENCY,
    GC_REMINDER,
    ActionResult,
    Summary,
    apply_plan,
    default_journal_path,
    default_summary_path,
    write_summary,
)
from reginventory.plan.planfile import check_age, load_plan, parse_duration, seal, write_plan
from reginventory.plan.planner import make_plan
from reginventory.plan.policy import load_policy
from reginventory.plan.render import human_bytes, render

F = TypeVar("F", bound=Callable[..., Any])


def _evaluated(func: F) -> F:
    """Evaluate the postponed annotations: ``with_connection`` copies the signature as it finds
    it, and Typer ignores the options of annotations left as strings."""
    func.__annotations__ = typing.get_type_hints(func, include_extras=True)
    return func


_APPLY = "Apply"
_OUTPUT = "Output"
DRY_RUN_LINE = "dry run: nothing deleted; rerun with --yes"

Yes = Annotated[bool, typer.Option("--yes", "-y", help="Really change the registry (without it: a dry run).", rich_help_panel=_APPLY)]
Concurrency = Annotated[
    int, typer.Option("--concurrency", "-j", min=1, max=64, help="Requests in flight (checks and deletes).", rich_help_panel=_APPLY)
]
MaxAge = Annotated[
    str, typer.Option("--max-age", help="Refuse a plan whose crawl is older than this (90m, 24h, 7d).", rich_help_panel=_APPLY)
]
JournalOption = Annotated[
    Optional[Path], typer.Option("--journal", help="Journal file (default: <plan>.journal).", rich_help_panel=_APPLY)
]
SummaryOption = Annotated[
    Optional[Path], typer.Option("--summary", help="Summary file (default: <plan>.summary.json).", rich_help_panel=_APPLY)
]


@app.command("plan")
@handle_errors
@with_connection
@_evaluated
def plan_command(
    *,
    data: Annotated[str, typer.Option("--data", "-d", help="Snapshot folder or URL (what `reginventory crawl` wrote).")],
    policy: Annotated[Path, typer.Option("--policy", "-p", help="Policy file (TOML): rules, protect, copy.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the plan JSON here.", rich_help_panel=_OUTPUT)] = None,
    fmt: Annotated[
        str,
        typer.Option("--format", "-f", help="Review rendering: md, html, sh, sync, a .j2 file or a name in --templates.", rich_help_panel=_OUTPUT),
    ] = "md",
    output: Annotated[
        Optional[Path], typer.Option("--output", help="Write the rendering here instead of the terminal.", rich_help_panel=_OUTPUT)
    ] = None,
    templates: Annotated[
        Optional[list[Path]], typer.Option("--templates", help="Folder with your own plan templates (repeatable).", rich_help_panel=_OUTPUT)
    ] = None,
    crawl: Annotated[Optional[str], typer.Option("--crawl", help="Plan from this crawl id (default: each registry's latest).")] = None,
    registry: Annotated[Optional[str], typer.Option("--registry", help="Only this registry of the snapshot.")] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Apply the plan right away (a dry run unless --yes).", rich_help_panel=_APPLY)] = False,
    yes: Yes = False,
    concurrency: Concurrency = DEFAULT_CONCURRENCY,
    max_age: MaxAge = "24h",
    journal: JournalOption = None,
    summary: SummaryOption = None,
    conn: Connection,
) -> None:
    """Turn a retention/copy policy and a snapshot into a plan: every action pinned to a digest,
    with the tags it removes and the bytes garbage collection frees; render it for review.

    Example: reginventory plan --data snapshots/ --policy policy.toml --out plan.json
    """
    parsed = load_policy(policy)
    with open_inventory(data, crawl, registry=registry) as inv:
        plan = seal(make_plan(inv, parsed))
    target = out
    if apply and target is None:
        target = Path(f"plan-{plan['crawl_id']}.json")
    if target is not None:
        write_plan(plan, target)
        typer.echo(f"wrote {target} ({plan['counts']['delete']} deletes, {plan['counts']['untag']} untags, "
                   f"{plan['counts']['copy']} copies; {human_bytes(plan['reclaimable_bytes'])} reclaimable)", err=True)
    _emit(render(plan, fmt, template_dirs=templates or (), dry_run=apply and not yes), output)
    if apply:
        assert target is not None
        _apply(target, yes=yes, concurrency=concurrency, max_age=max_age, journal=journal, summary=summary,
               conn=conn, show_plan=False)


@app.command("apply")
@handle_errors
@with_connection
@_evaluated
def apply_command(
    plan: Annotated[Path, typer.Argument(help="Plan file written by `reginventory plan --out`.")],
    *,
    yes: Yes = False,
    concurrency: Concurrency = DEFAULT_CONCURRENCY,
    max_age: MaxAge = "24h",
    journal: JournalOption = None,
    summary: SummaryOption = None,
    conn: Connection,
) -> None:
    """Apply a plan: check its checksum and age, re-check every tag, delete by digest, untag,
    copy, with a journal that makes a killed run resume. A dry run unless --yes.

    Example: reginventory apply plan.json --yes
    """
    _apply(plan, yes=yes, concurrency=concurrency, max_age=max_age, journal=journal, summary=summary, conn=conn,
           show_plan=True)


def _apply(
    path: Path,
    *,
    yes: bool,
    concurrency: int,
    max_age: str,
    journal: Path | None,
    summary: Path | None,
    conn: Connection,
    show_plan: bool,
) -> None:
    loaded = load_plan(path)
    check_age(loaded, parse_duration(max_age))
    if not yes:
        if show_plan:
            typer.echo(render(loaded.data, "md", dry_run=True))
        typer.echo(DRY_RUN_LINE)
        raise typer.Exit(EXIT_OK)

    def client_for(registry: str):  # type: ignore[no-untyped-def]
        return conn.client(registry, max_in_flight=max(16, 2 * concurrency))

    def report(result: ActionResult) -> None:
        if result.state in ("skipped", "failed"):
            typer.echo(f"{result.state}: #{result.id} {_describe(result)}: {result.reason}", err=True)

    outcome = apply_plan(loaded, client_for, concurrency=concurrency,
                         journal_path=journal or default_journal_path(path), on_result=report)
    summary_path = write_summary(outcome, summary or default_summary_path(path))
    _print_summary(outcome, summary_path)
    raise typer.Exit(outcome.exit_code)


def _describe(result: ActionResult) -> str:
    tags = f" ({', '.join(result.tags)})" if result.tags else ""
    return f"{result.action} {result.registry}/{result.repository}@{result.digest}{tags}"


def _print_summary(outcome: Summary, path: Path) -> None:
    earlier = sum(r.earlier_run for r in outcome.results)
    typer.echo(
        f"apply: {len(outcome.done)} done, {len(outcome.skipped)} skipped, {len(outcome.failed)} failed "
        f"of {len(outcome.results)} actions in {outcome.seconds:.1f} s ({outcome.actions_per_second:.0f} actions/s)"
        + (f"; {earlier} finished by an earlier run" if earlier else "")
    )
    typer.echo(
        f"reclaimable after garbage collection: {human_bytes(outcome.freed_bytes)} ({outcome.freed_bytes} bytes) "
        f"of {human_bytes(outcome.reclaimable_bytes)} planned"
    )
    for label, rows in (("skipped", outcome.skipped), ("failed", outcome.failed)):
        if rows:
            typer.echo(f"{label}:")
            for row in rows:
                typer.echo(f"  #{row.id} {_describe(row)}: {row.reason}")
    typer.echo(f"summary: {path}")
    typer.echo(GC_REMINDER)


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}", err=True)
