"""Write commands, in the style of crane and skopeo: copy, tag, untag, delete, pull, push.

Credentials come from the docker config (or ``REGINVENTORY_USERNAME``/``REGINVENTORY_PASSWORD``),
or ``--username`` with ``--password-stdin``; never from a password on the command line. For
``copy``, ``--username`` applies to the source (and to the destination when it is the same
registry); ``--dest-username`` with ``--dest-password-stdin`` reads the destination's password
from the next line of standard input.
"""



import asyncio
import dataclasses
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from reginventory.cli.app import EXIT_ERROR, app, fail, handle_errors
from reginventory.cli.options import Connection, parse_ref, with_connection
from reginventory.client.blob_cache import BlobCache
from reginventory.client.copy import DEFAULT_CONCURRENCY, copy_image, pull_to_cache, push_from_cache
from reginventory.client.platform import parse_platform
from reginventory.client.reference import Reference, split_scheme
from reginventory.errors import IllegalArgumentError

PlatformOption = Annotated[
    Optional[str],
    typer.Option("--platform", help="Only this platform (os/arch or os/arch/variant) of a multi-arch index; default: the whole index."),
]
Concurrency = Annotated[int, typer.Option("--concurrency", min=1, max=32, help="Blobs moved at the same time.")]
NameOption = Annotated[
    str, typer.Option("--name", help="File base name inside DIR: files are <name>.manifest, <name>.<hex>...")
]


def _tag_or_digest(ref: Reference) -> str:
    return ref.digest or ref.tag or "latest"


def _dest_connection(
    conn: Connection, src_registry: str, dst_registry: str, username: str | None, password_stdin: bool,
    plain_http: bool, no_verify: bool, ca_bundle: str | None, cert: str | None,
) -> Connection:
    """The destination's Connection: its own credentials if given, the source's on the same registry."""
    password = None
    if password_stdin:
        if not username:
            raise typer.BadParameter("--dest-password-stdin needs --dest-username")
        password = sys.stdin.readline().rstrip("\r\n")
    same = split_scheme(src_registry)[1] == split_scheme(dst_registry)[1]
    if username is None and not same:
        # Another registry: its credentials come from the docker config or the environment.
        conn = dataclasses.replace(conn, username=None, password=None)
    elif username is not None:
        conn = dataclasses.replace(conn, username=username, password=password)
    return dataclasses.replace(
        conn, plain_http=conn.plain_http or plain_http, no_verify=conn.no_verify or no_verify,
        ca_bundle=ca_bundle or conn.ca_bundle, cert=cert or conn.cert,
    )


@app.command("copy")
@handle_errors
@with_connection
def copy_command(
    source: Annotated[str, typer.Argument(help="Source reference: host/repository:tag or @digest.")],
    destination: Annotated[str, typer.Argument(help="Destination reference: host/repository[:tag] (tag defaults to latest).")],
    platform: PlatformOption = None,
    concurrency: Concurrency = DEFAULT_CONCURRENCY,
    referrers: Annotated[bool, typer.Option("--referrers", help="Also copy the image's signatures, attestations and SBOMs (cosign tags, OCI referrers).")] = False,
    dest_username: Annotated[Optional[str], typer.Option("--dest-username", help="Destination user name.", rich_help_panel="Destination")] = None,
    dest_password_stdin: Annotated[bool, typer.Option("--dest-password-stdin", help="Read the destination password from the next stdin line.", rich_help_panel="Destination")] = False,
    dest_plain_http: Annotated[bool, typer.Option("--dest-plain-http", help="Use HTTP for the destination.", rich_help_panel="Destination")] = False,
    dest_no_verify: Annotated[bool, typer.Option("--dest-no-verify", help="Do not verify the destination's TLS certificate.", rich_help_panel="Destination")] = False,
    dest_ca_bundle: Annotated[Optional[str], typer.Option("--dest-ca-bundle", help="Extra CA certificates for the destination.", rich_help_panel="Destination")] = None,
    dest_cert: Annotated[Optional[str], typer.Option("--dest-cert", help="Client certificate for the destination.", rich_help_panel="Destination")] = None,
    *,
    conn: Connection,
) -> None:
    """Copy an image between repositories or registries, byte for byte (every digest kept).

    A multi-arch index is copied whole (every child, then the index) unless --platform names one.
    With --referrers, signatures, attestations and SBOMs that refer to it come along.
    Blobs the destination has are skipped; on the same registry they are mounted. Push
    permission is checked before any blob moves. Prints the digest that DESTINATION points at.

    Example: reginventory copy 127.0.0.1:5000/team/app:v1 127.0.0.1:5001/mirror/app:v1
    """
    src_registry, src_ref = parse_ref(source)
    dst_registry, dst_ref = parse_ref(destination)
    wanted = parse_platform(platform) if platform else None
    dst_conn = _dest_connection(conn, src_registry, dst_registry, dest_username, dest_password_stdin,
                                dest_plain_http, dest_no_verify, dest_ca_bundle, dest_cert)

    async def run() -> str:
        async with conn.client(src_registry) as src, dst_conn.client(dst_registry) as dst:
            result = await copy_image(
                src, src_ref.repository, src_ref.reference, dst, dst_ref.repository, dst_ref.tag if not dst_ref.digest else None,
                wanted, concurrency=concurrency, referrers=referrers,
            )
            if dst_ref.digest and dst_ref.digest != result.digest:
                raise IllegalArgumentError(f"destination digest {dst_ref.digest} is not the copied {result.digest}")
            stats = result.stats
            typer.echo(
                f"copied {len(result.manifests)} manifest(s); blobs: {stats.blobs_uploaded} uploaded "
                f"({stats.bytes_uploaded} bytes), {stats.blobs_mounted} mounted, {stats.blobs_skipped} already there"
                + (f"; {len(result.referrers)} referrer manifest(s)" if referrers else ""),
                err=True,
            )
            return result.digest

    typer.echo(asyncio.run(run()))


@app.command("tag")
@handle_errors
@with_connection
def tag_command(
    reference: Annotated[str, typer.Argument(help="Image reference: host/repository:tag or @digest.")],
    new_tag: Annotated[str, typer.Argument(help="The new tag, in the same repository.")],
    *,
    conn: Connection,
) -> None:
    """Add a tag to an image: the same manifest bytes under NEW_TAG (the digest does not change).

    Example: reginventory tag 127.0.0.1:5000/team/app:v1 stable
    """
    registry, ref = parse_ref(reference)

    typer.echo(conn.run_writer(registry, lambda writer: writer.tag_image(ref.repository, ref.reference, new_tag)))


@app.command("untag")
@handle_errors
@with_connection
def untag_command(
    reference: Annotated[str, typer.Argument(help="Tag reference: host/repository:tag.")],
    *,
    conn: Connection,
) -> None:
    """Remove one tag; the image and its other tags stay.

    Uses DELETE /manifests/<tag> where the registry supports it; on distribution 2.x, which
    refuses that, points the tag at a small unique placeholder and deletes the placeholder by
    digest (the registry must allow deletes).

    Example: reginventory untag 127.0.0.1:5000/team/app:old
    """
    registry, ref = parse_ref(reference)
    if ref.digest or not ref.tag:
        raise fail("untag needs a tag reference (host/repository:tag), not a digest", 2)

    done = conn.run_writer(registry, lambda writer: writer.delete_tag(ref.repository, ref.tag or ""))
    typer.echo(f"untagged {ref.repository}:{done.tag} (was {done.digest}; {done.method})")


@app.command("delete")
@handle_errors
@with_connection
def delete_command(
    reference: Annotated[str, typer.Argument(help="Image reference: host/repository:tag or @digest.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Really delete (without it: only show what would go).")] = False,
    layers: Annotated[bool, typer.Option("--layers", help="Also unlink blobs no remaining manifest of the repository uses.")] = False,
    keep_children: Annotated[bool, typer.Option("--keep-children", help="For an index, keep its child manifests.")] = False,
    *,
    conn: Connection,
) -> None:
    """Delete an image by digest: every tag pointing at that digest goes with it, and is listed.

    Without --yes nothing is deleted: the digest and its tags are printed and the exit code is 1.
    For an index, the children no remaining tag reaches are deleted too (unless --keep-children).

    Example: reginventory delete 127.0.0.1:5000/team/app:v1 --yes
    """
    registry, ref = parse_ref(reference)

    report = conn.run_writer(registry, lambda writer: writer.delete_image(
        ref.repository, ref.reference, layers=layers, children=not keep_children, dry_run=not yes
    ))
    verb = "deleted" if yes else "would delete"
    typer.echo(f"{verb} {ref.repository}@{report.digest} ({report.media_type})")
    tags = ", ".join(report.tags) or "(no tags)"
    typer.echo(f"{'tags removed with it' if yes else 'tags that go with it'}: {tags}")
    for child in report.children:
        typer.echo(f"{verb} child {child}")
    for child in report.children_kept:
        typer.echo(f"kept child {child} (another tag uses it)")
    for blob in report.blobs_deleted:
        typer.echo(f"{verb} blob {blob}")
    for blob in report.blobs_kept:
        typer.echo(f"kept blob {blob} (a remaining manifest uses it)")
    if not yes:
        typer.echo("nothing deleted: pass --yes to delete", err=True)
        raise typer.Exit(EXIT_ERROR)


@app.command("pull")
@handle_errors
@with_connection
def pull_command(
    reference: Annotated[str, typer.Argument(help="Image reference: host/repository:tag or @digest.")],
    directory: Annotated[Path, typer.Argument(help="Folder for the files (created if needed).")],
    platform: PlatformOption = None,
    name: NameOption = "image",
    refresh: Annotated[bool, typer.Option("--refresh", help="Download again even what is already there and valid.")] = False,
    concurrency: Concurrency = DEFAULT_CONCURRENCY,
    *,
    conn: Connection,
) -> None:
    """Pull an image to DIR: <name>.manifest, <name>.<hex> per blob, <name>.<hex>.manifest per child.

    Every blob is verified while it streams; valid files already there are kept; an interrupted
    pull leaves <file>.partial files that the next pull resumes with HTTP Range.

    Example: reginventory pull 127.0.0.1:5000/team/app:v1 ./app-v1
    """
    registry, ref = parse_ref(reference)
    wanted = parse_platform(platform) if platform else None
    cache = BlobCache(directory / name)

    result = conn.run(registry, lambda client: pull_to_cache(
        client, ref.repository, ref.reference, cache, wanted, refresh=refresh, concurrency=concurrency
    ))
    typer.echo(
        f"pulled to {cache.folder}: {result.downloaded} blob(s) downloaded ({result.bytes_downloaded} bytes), "
        f"{result.reused} reused", err=True,
    )
    typer.echo(result.plan.top.digest)


@app.command("push")
@handle_errors
@with_connection
def push_command(
    directory: Annotated[Path, typer.Argument(help="Folder written by `reginventory pull`.")],
    reference: Annotated[str, typer.Argument(help="Destination: host/repository[:tag] (tag defaults to latest).")],
    name: NameOption = "image",
    concurrency: Concurrency = DEFAULT_CONCURRENCY,
    *,
    conn: Connection,
) -> None:
    """Push an image pulled to DIR: blobs first (skipped when present), the manifest last, byte for byte.

    Example: reginventory push ./app-v1 127.0.0.1:5001/team/app:v1
    """
    registry, ref = parse_ref(reference)
    cache = BlobCache(directory / name)

    result = conn.run(registry, lambda client: push_from_cache(
        client, ref.repository, ref.tag if not ref.digest else None, cache, concurrency=concurrency
    ))
    if ref.digest and ref.digest != result.digest:
        raise IllegalArgumentError(f"{ref.digest} is not the digest of the image in {directory} ({result.digest})")
    stats = result.stats
    typer.echo(
        f"pushed {len(result.manifests)} manifest(s); blobs: {stats.blobs_uploaded} uploaded, "
        f"{stats.blobs_skipped} already there", err=True,
    )
    typer.echo(result.digest)


__all__ = ["copy_command", "delete_command", "pull_command", "push_command", "tag_command", "untag_command"]
