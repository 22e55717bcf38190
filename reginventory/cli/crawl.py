"""``reginventory crawl``: registries into Parquet snapshots (a thin layer over
:mod:`reginventory.inventory.crawl`).

No ``from __future__ import annotations`` here: ``with_connection`` rebuilds the signature from
the raw annotations, and Typer only sees ``Annotated`` metadata when they are real objects.
"""

import asyncio
from pathlib import Path
from typing import Annotated, Optional

import typer

from reginventory.cli.app import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, app, handle_errors
from reginventory.cli.options import Connection, with_connection
from reginventory.client.transport import DEFAULT_MAX_IN_FLIGHT
from reginventory.errors import IllegalArgumentError
from reginventory.inventory.crawl import CrawlResult, crawl_registries
from reginventory.inventory.crawl_config import RECONNECT_SECONDS, CrawlOptions, CrawlTarget, load_config, override_target
from reginventory.inventory.progress import make_reporter, summary
from reginventory.inventory.shard import UNSHARDED, parse_shard

_SELECT = "Repositories"
_RUN = "Crawl"


def _read_list(path: Path) -> tuple[str, ...]:
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise IllegalArgumentError(f"cannot read {path}: {exc}") from None
    return tuple(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))


@app.command("crawl")
@handle_errors
@with_connection
def crawl_command(
    registries: Annotated[
        Optional[list[str]], typer.Argument(help="Registry URLs (http://127.0.0.1:5000, https://reg.example.com) or hosts.")
    ] = None,
    *,
    out: Annotated[Optional[str], typer.Option("--out", "-o", help="Snapshot folder or object-store URL (s3://bucket/prefix).")] = None,
    config: Annotated[
        Optional[Path], typer.Option("--config", "-c", help="TOML file describing registries (one registries table each, see the docs).")
    ] = None,
    repo: Annotated[
        Optional[str], typer.Option("--repo", help="Only repositories whose name matches this regular expression (searched).", rich_help_panel=_SELECT)
    ] = None,
    namespace: Annotated[
        Optional[list[str]], typer.Option("--namespace", "-n", help="Only repositories under this namespace (repeatable).", rich_help_panel=_SELECT)
    ] = None,
    repository: Annotated[
        Optional[list[str]],
        typer.Option("--repository", help="Crawl exactly these repositories, without _catalog (repeatable; Docker Hub).", rich_help_panel=_SELECT),
    ] = None,
    repositories_file: Annotated[
        Optional[Path], typer.Option("--repositories-file", help="File with one repository per line (like --repository).", rich_help_panel=_SELECT)
    ] = None,
    max_in_flight: Annotated[
        Optional[int],
        typer.Option(
            "--max-in-flight", "--concurrency", help=f"Requests in flight per registry (default {DEFAULT_MAX_IN_FLIGHT}).",
            rich_help_panel=_RUN, min=1,
        ),
    ] = None,
    rate: Annotated[
        Optional[float], typer.Option("--rate", help="At most this many requests per second per registry.", rich_help_panel=_RUN)
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Fetch every manifest again, even when a previous snapshot knows it.", rich_help_panel=_RUN)
    ] = False,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the interrupted crawl of each registry (or start one).", rich_help_panel=_RUN)
    ] = False,
    shard: Annotated[
        Optional[str], typer.Option("--shard", help="Crawl part I of N (0-based, e.g. 0/4); needs --crawl-id.", rich_help_panel=_RUN)
    ] = None,
    crawl_id: Annotated[
        Optional[str], typer.Option("--crawl-id", help="Crawl id (shared by the N processes of a sharded crawl).", rich_help_panel=_RUN)
    ] = None,
    no_referrers_api: Annotated[
        bool, typer.Option("--no-referrers-api", help="Do not ask the OCI referrers API (cosign tags and subjects are still read).", rich_help_panel=_RUN)
    ] = False,
    reconnect_timeout: Annotated[
        float,
        typer.Option("--reconnect-timeout", help="Seconds to wait for a registry that refuses connections (a restart).", rich_help_panel=_RUN),
    ] = RECONNECT_SECONDS,
    no_derived: Annotated[
        bool,
        typer.Option(
            "--no-derived", help="Do not cache the crawl's derived tables under OUT/_derived (queries build them on open).",
            rich_help_panel=_RUN,
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress and no summary (the exit code tells).")] = False,
    conn: Connection,
) -> None:
    """Crawl registries into Parquet snapshots under --out: tags, manifests, index children,
    layers, referrers and errors, one Hive partition per registry and crawl.

    The crawl is incremental (one HEAD per tag, GETs only for new digests) when --out already
    holds a snapshot of the registry, and becomes visible only when complete. Exit code 0: every
    registry complete; 3: something was skipped (see the errors table); 1: a registry failed.

    Flags given on the command line (--repo, --namespace, --repository, --concurrency, --rate,
    credentials and TLS) override the values of the registries of a --config file.

    Example: reginventory crawl http://127.0.0.1:5000 --out snapshots/ --repo '^team-a/'
    """
    targets: list[CrawlTarget] = []
    if config is not None:
        loaded = load_config(config)
        targets.extend(loaded.targets)
        out = out or loaded.out
    targets.extend(CrawlTarget(url=url) for url in registries or ())
    repositories = tuple(repository or ()) + (_read_list(repositories_file) if repositories_file else ())
    # Flags given on the command line override the config file's values (None: not given).
    targets = [
        override_target(
            target, username=conn.username, password=conn.password,
            use_docker_config=False if not conn.use_docker_config else None,
            plain_http=conn.plain_http or None, allow_insecure=conn.allow_insecure or None,
            no_verify=conn.no_verify or None, ca_bundle=conn.ca_bundle, cert=conn.cert,
            repo=repo, namespaces=tuple(namespace) if namespace else None, repositories=repositories or None,
            max_in_flight=max_in_flight, rate=rate,
        )
        for target in targets
    ]
    if not targets:
        raise typer.BadParameter("name at least one REGISTRY or give --config")
    if not out:
        raise typer.BadParameter("--out is required (or 'out' in the --config file)")
    options = CrawlOptions(
        mode="full" if full else "auto",
        resume=resume,
        crawl_id=crawl_id,
        shard=parse_shard(shard) if shard else UNSHARDED,
        referrers="never" if no_referrers_api else "auto",
        reconnect_seconds=reconnect_timeout,
        derived=not no_derived,
    )
    reporter = make_reporter(quiet)
    results = asyncio.run(crawl_registries(targets, out, options, reporter))
    done = [r for r in results if isinstance(r, CrawlResult)]
    if done and not quiet:
        typer.echo(summary(done))
    failed = False
    for target, result in zip(targets, results):
        if isinstance(result, BaseException):
            failed = True
            typer.echo(f"error: {target.registry}: {result}", err=True)
    if failed:
        raise typer.Exit(EXIT_ERROR)
    raise typer.Exit(EXIT_PARTIAL if any(r.partial for r in done) else EXIT_OK)
