"""Read commands, in the style of crane and skopeo: ls, tags, digest, size, inspect."""

from __future__ import annotations

import json
from typing import Annotated, Any, Optional

import typer

from reginventory.cli.app import app, handle_errors
from reginventory.cli.options import Connection, parse_ref, with_connection
from reginventory.client.manifest import IndexManifest, Schema1Manifest
from reginventory.client.platform import parse_platform
from reginventory.client.reference import split_registry_url
from reginventory.client.registry_client import RegistryClient

PlatformOption = Annotated[
    Optional[str], typer.Option("--platform", help="os/arch[/variant] to pick from a multi-arch index (default: this machine).")
]


@app.command("ls")
@handle_errors
@with_connection
def ls_command(
    registry: Annotated[str, typer.Argument(help="Registry host[:port] or URL.")],
    *,
    conn: Connection,
) -> None:
    """List the repositories of a registry, one per line (the whole catalog, paged).

    Example: reginventory ls 127.0.0.1:5000
    """
    split_registry_url(registry)

    async def print_catalog(client: RegistryClient) -> None:
        async for page in client.catalog_pages():
            for name in page:
                typer.echo(name)

    conn.run(registry, print_catalog)


@app.command("tags")
@handle_errors
@with_connection
def tags_command(
    repository: Annotated[str, typer.Argument(help="Repository reference: host[:port]/repository.")],
    *,
    conn: Connection,
) -> None:
    """List the tags of a repository, one per line.

    Example: reginventory tags 127.0.0.1:5000/team/app
    """
    registry, ref = parse_ref(repository)

    for tag in conn.run(registry, lambda client: client.list_tags(ref.repository)):
        typer.echo(tag)


@app.command("digest")
@handle_errors
@with_connection
def digest_command(
    reference: Annotated[str, typer.Argument(help="Image reference: host/repository:tag or @digest.")],
    *,
    conn: Connection,
) -> None:
    """Print the manifest digest a tag points at, as the registry serves it (full Accept list).

    Example: reginventory digest 127.0.0.1:5000/team/app:v1
    """
    registry, ref = parse_ref(reference)

    typer.echo(conn.run(registry, lambda client: client.head_manifest(ref.repository, ref.reference)).digest)


@app.command("size")
@handle_errors
@with_connection
def size_command(
    reference: Annotated[str, typer.Argument(help="Image reference.")],
    platform: PlatformOption = None,
    *,
    conn: Connection,
) -> None:
    """Print the compressed size in bytes of an image: config + layers, for one platform.

    Example: reginventory size 127.0.0.1:5000/team/app:v1 --platform linux/arm64
    """
    registry, ref = parse_ref(reference)
    wanted = parse_platform(platform) if platform else None

    info = conn.run(registry, lambda client: client.describe_image(ref.repository, ref.reference, wanted))
    typer.echo(str(info.size))


def describe_index(index: IndexManifest) -> list[dict[str, Any]]:
    """The children of an index as JSON-ready dicts."""
    return [
        {
            "digest": child.digest,
            "media_type": child.media_type,
            "size": child.size,
            "platform": str(child.platform) if child.platform and not child.is_attestation else None,
            "kind": "attestation" if child.is_attestation else "image",
            "annotations": dict(child.annotations),
        }
        for child in index.manifests
    ]


@app.command("inspect")
@handle_errors
@with_connection
def inspect_command(
    reference: Annotated[str, typer.Argument(help="Image reference.")],
    platform: PlatformOption = None,
    *,
    conn: Connection,
) -> None:
    """Print JSON about a reference: its digest, media type and kind, and more by kind.

    For an image: size, created, platform, layers and labels. For an index: its children with
    their platforms (with --platform: the selected image instead).

    Example: reginventory inspect 127.0.0.1:5000/team/app:v1
    """
    registry, ref = parse_ref(reference)

    async def describe(client: RegistryClient) -> dict[str, Any]:
        top = await client.get_manifest(ref.repository, ref.reference)
        if isinstance(top, IndexManifest) and platform is None:
            return {
                "registry": client.host, "repository": ref.repository, "reference": ref.reference,
                "digest": top.digest, "media_type": top.media_type, "kind": "index",
                "manifest_size": len(top.raw), "annotations": dict(top.annotations),
                "manifests": describe_index(top),
            }
        wanted = parse_platform(platform) if platform else None
        info = await client.describe_image(ref.repository, ref.reference, wanted)
        result = info.to_dict()
        if isinstance(top, Schema1Manifest):
            result["note"] = "schema1 manifests do not record layer sizes; size counts none"
        return result

    typer.echo(json.dumps(conn.run(registry, describe), indent=2, sort_keys=False))
