"""Bad input: garbage manifests, wrong digests, huge answers, a 403 repository, a vanished tag,
a corrupt config blob. Each is recorded in ``errors``, the crawl goes on, the snapshot says
partial and the CLI exits 3."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Callable, Iterator

import pytest
from crawl_faults import (
    FaultProxy,
    add_tags,
    corrupt_blob,
    denied,
    garbage_manifest,
    huge_manifest,
    server_error,
    wrong_digest,
)
from crawl_helpers import dicts
from harness.images import ImageSpec, build_image, push, tag_existing
from harness.registry import RegistryServer
from typer.testing import CliRunner

from reginventory.cli.main import app, load_commands
from reginventory.client.registry_client import RegistryClient
from reginventory.client.transport import RetryPolicy
from reginventory.inventory.crawl import crawl_registry
from reginventory.inventory.crawl_config import CrawlTarget
from reginventory.inventory.store import SnapshotStore

pytestmark = pytest.mark.needs_registry

GOOD = build_image(ImageSpec(layers=[{"good": "good\n"}], labels={"which": "good"}))
BADCONFIG = build_image(ImageSpec(layers=[{"bad": "config\n"}], labels={"which": "badconfig"}))
FAULTY_TAGS = ("garbage", "wrongdigest", "huge", "broken")


@pytest.fixture
def upstream(fresh_registry: Callable[..., RegistryServer]) -> RegistryServer:
    registry = fresh_registry()
    push(registry, GOOD, "faulty/app", "good", verify=False)
    for tag in FAULTY_TAGS:
        tag_existing(registry, "faulty/app", tag, GOOD)
    push(registry, BADCONFIG, "faulty/app", "badconfig", verify=False)
    push(registry, GOOD, "faulty/forbidden", "v1", verify=False)
    push(registry, GOOD, "faulty/fine", "v1", verify=False)
    return registry


def _proxy(upstream: RegistryServer, *, with_500: bool) -> FaultProxy:
    proxy = FaultProxy(upstream.url)
    proxy.add("GET", r"^/v2/faulty/forbidden/tags/list", denied)
    proxy.add("GET", r"^/v2/faulty/app/tags/list", add_tags("ghost"))
    proxy.add("GET HEAD", r"^/v2/faulty/app/manifests/garbage$", garbage_manifest)
    proxy.add("GET HEAD", r"^/v2/faulty/app/manifests/wrongdigest$", wrong_digest)
    proxy.add("GET HEAD", r"^/v2/faulty/app/manifests/huge$", huge_manifest)
    proxy.add("GET", rf"^/v2/faulty/app/blobs/{BADCONFIG.config_digest}$", corrupt_blob)
    if with_500:
        proxy.add("GET HEAD", r"^/v2/faulty/app/manifests/broken$", server_error)
    return proxy


@pytest.fixture
def faulty(upstream: RegistryServer) -> Iterator[FaultProxy]:
    with _proxy(upstream, with_500=True) as proxy:
        yield proxy


def test_errors_are_recorded_and_the_crawl_goes_on(faulty: FaultProxy, tmp_path: Path) -> None:
    store = SnapshotStore(str(tmp_path))
    target = CrawlTarget(faulty.url)
    # Few, fast retries: the 500 is permanent here.
    client = RegistryClient(faulty.url, retry=RetryPolicy(attempts=2, base_seconds=0.01))
    result = asyncio.run(crawl_registry(target, store, client=client))
    asyncio.run(client.aclose())
    assert result.status == "partial" and result.partial

    errors = {(e["repository"], e["reference"], e["stage"]): e for e in dicts(store, "errors")}
    expected = {
        ("faulty/forbidden", None, "tags"): ("ForbiddenError", 403),
        ("faulty/app", "garbage", "manifest"): ("ManifestError", None),
        ("faulty/app", "wrongdigest", "manifest"): ("DigestMismatchError", None),
        ("faulty/app", "huge", "manifest"): ("ManifestError", None),
        ("faulty/app", "broken", "manifest"): ("RegistryUnavailableError", 500),
        ("faulty/app", "ghost", "manifest"): ("NotFoundError", 404),
        ("faulty/app", BADCONFIG.digest, "config"): ("DigestMismatchError", None),
    }
    assert {k: (v["error_type"], v["status"]) for k, v in errors.items()} == expected
    assert "limit" in errors[("faulty/app", "huge", "manifest")]["message"]
    assert result.errors == len(expected)

    # what could be read is recorded
    tags = {(t["repository"], t["tag"]) for t in dicts(store, "tags")}
    assert tags == {("faulty/app", "good"), ("faulty/app", "badconfig"), ("faulty/fine", "v1")}
    manifests = {(m["repository"], m["digest"]): m for m in dicts(store, "manifests")}
    assert manifests[("faulty/app", BADCONFIG.digest)]["created"] is None  # config unreadable
    assert manifests[("faulty/app", GOOD.digest)]["created"] is not None
    [crawl_row] = store.committed_crawls()
    assert crawl_row["status"] == "partial" and crawl_row["errors"] == len(expected)

    # the next (incremental) crawl fetches the manifest whose config failed again
    client = RegistryClient(faulty.url, retry=RetryPolicy(attempts=2, base_seconds=0.01))
    again = asyncio.run(crawl_registry(target, store, client=client))
    asyncio.run(client.aclose())
    assert again.mode == "incremental"
    second = {(e["repository"], e["reference"], e["stage"]) for e in dicts(store, "errors", again.crawl_id)}
    assert ("faulty/app", BADCONFIG.digest, "config") in second


def test_cli_exit_code_3_when_partial(upstream: RegistryServer, tmp_path: Path) -> None:
    load_commands()
    with _proxy(upstream, with_500=False) as proxy:
        result = CliRunner().invoke(app, ["crawl", proxy.url, "--out", str(tmp_path)])
    assert result.exit_code == 3, result.output
    assert "partial" in result.stdout


def test_cli_exit_code_1_when_registry_unreachable(tmp_path: Path) -> None:
    load_commands()
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = CliRunner().invoke(
        app, ["crawl", f"http://127.0.0.1:{port}", "--out", str(tmp_path), "--quiet", "--reconnect-timeout", "0"]
    )
    assert result.exit_code == 1
    assert "cannot reach" in result.stderr
    assert SnapshotStore(str(tmp_path)).committed_crawls() == []
