"""Misbehaving registries (a scripted loopback server): faults distribution cannot produce."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from harness.fake_registry import FakeRegistry, Reply, Seen

from reginventory.client import mediatypes as mt
from reginventory.client.credentials import Credentials
from reginventory.client.digest import sha256_digest
from reginventory.client.registry_client import RegistryClient
from reginventory.client.transport import RetryPolicy
from reginventory.errors import (
    DigestMismatchError,
    InsecureRequestError,
    ManifestError,
    RateLimitedError,
    RegistryUnavailableError,
)

FAST = RetryPolicy(attempts=4, base_seconds=0.01, max_wait_seconds=0.05)
MANIFEST = json.dumps({
    "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
    "config": {"mediaType": mt.OCI_CONFIG, "digest": "sha256:" + "c" * 64, "size": 2},
    "layers": [],
}).encode()
DIGEST = sha256_digest(MANIFEST)


def manifest_reply(body: bytes = MANIFEST, digest: str | None = DIGEST, **extra: Any) -> Reply:
    headers = {"Content-Type": mt.OCI_MANIFEST}
    if digest:
        headers["Docker-Content-Digest"] = digest
    return Reply(200, headers, body, **extra)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def get(fake: FakeRegistry, reference: str = "v1", **kw: Any) -> Any:
    async with RegistryClient(fake.url, retry=FAST, **kw) as client:
        return await client.get_manifest("team/app", reference)


def test_429_storm_is_retried_honouring_retry_after() -> None:
    calls: list[int] = []

    def storm(_: Seen) -> Reply:
        calls.append(1)
        if len(calls) < 3:
            return Reply(429, {"Retry-After": "0.05"}, b'{"errors":[{"code":"TOOMANYREQUESTS"}]}')
        return manifest_reply()

    with FakeRegistry() as fake:
        fake.route("GET", "/v2/team/app/manifests/v1", storm)
        assert run(get(fake)).digest == DIGEST
    assert len(calls) == 3


def test_endless_429_gives_up_with_retry_after() -> None:
    with FakeRegistry() as fake:
        fake.route("GET", "/v2/team/app/manifests/v1", Reply(429, {"Retry-After": "0"}, b"{}"))
        with pytest.raises(RateLimitedError) as err:
            run(get(fake))
        assert len(fake.seen) == FAST.attempts and "team/app" in str(err.value)
        fake.route("GET", "/v2/team/app/manifests/v2", Reply(429, {"Retry-After": "3600"}, b"{}"))
        with pytest.raises(RateLimitedError) as long_wait:
            run(get(fake, "v2"))
        assert long_wait.value.retry_after == 3600


def test_5xx_then_success() -> None:
    replies = iter([Reply(503), Reply(502), manifest_reply()])
    with FakeRegistry() as fake:
        fake.route("GET", "/v2/team/app/manifests/v1", lambda _: next(replies))
        assert run(get(fake)).digest == DIGEST


def test_truncated_body_is_an_error_not_a_short_manifest() -> None:
    with FakeRegistry() as fake:
        fake.route("GET", "/v2/team/app/manifests/v1", manifest_reply(truncate_to=20))
        with pytest.raises(RegistryUnavailableError, match="cut short|truncated") as err:
            run(get(fake))
        assert fake.host in str(err.value)


def test_wrong_digest_by_reference_and_by_header() -> None:
    other = sha256_digest(b"something else")
    with FakeRegistry() as fake:
        fake.route("GET", f"/v2/team/app/manifests/{other}", manifest_reply(digest=other))
        with pytest.raises(DigestMismatchError, match=f"not {other}"):
            run(get(fake, other))
        fake.route("GET", "/v2/team/app/manifests/v1", manifest_reply(digest=other))
        with pytest.raises(DigestMismatchError):
            run(get(fake, "v1"))


def test_missing_digest_header_is_computed() -> None:
    with FakeRegistry() as fake:
        fake.route("GET", "/v2/team/app/manifests/v1", manifest_reply(digest=None))
        fake.route("HEAD", "/v2/team/app/manifests/v1", Reply(200, {"Content-Type": mt.OCI_MANIFEST}, MANIFEST))

        async def head() -> Any:
            async with RegistryClient(fake.url, retry=FAST) as client:
                return await client.head_manifest("team/app", "v1")

        assert run(head()).digest == DIGEST


@pytest.mark.parametrize(
    ("reply", "fragment"),
    [
        (Reply(200, {"Content-Type": mt.OCI_MANIFEST}, b"<html>proxy error</html>"), "not valid JSON"),
        (Reply(200, {"Content-Type": "application/x-odd"}, b'{"schemaVersion": 2, "mediaType": "application/x-odd"}'), "unknown manifest media type"),
        (Reply(200, {"Content-Type": mt.OCI_MANIFEST}, b"{" + b" " * (4 * 1024 * 1024 + 10) + b"}"), "exceeds"),
    ],
)
def test_bad_manifest_bodies_name_the_place(reply: Reply, fragment: str) -> None:
    with FakeRegistry() as fake:
        fake.route("GET", "/v2/team/app/manifests/v1", reply)
        with pytest.raises(ManifestError, match=fragment) as err:
            run(get(fake))
        assert fake.host in str(err.value) and "team/app" in str(err.value)


def test_redirect_to_another_host_drops_authorization() -> None:
    blob = b"config!"
    digest = sha256_digest(blob)
    with FakeRegistry("127.0.0.2") as storage, FakeRegistry() as fake:
        storage.route("GET", "/blob", Reply(200, {}, blob))

        def needs_auth(seen: Seen) -> Reply:
            if "authorization" not in seen.headers:
                return Reply(401, {"WWW-Authenticate": 'Basic realm="fake"'})
            return Reply(307, {"Location": f"{storage.url}/blob"})

        fake.route("GET", f"/v2/team/app/blobs/{digest}", needs_auth)

        async def fetch() -> bytes:
            async with RegistryClient(fake.url, retry=FAST, credentials=Credentials("u", "secret")) as client:
                return await client.get_blob("team/app", digest)

        assert run(fetch()) == blob
        assert fake.seen[-1].headers["authorization"].startswith("Basic ")
        assert storage.seen and all("authorization" not in s.headers for s in storage.seen)


def test_tag_pages_follow_relative_and_absolute_links() -> None:
    with FakeRegistry() as fake:
        def page(seen: Seen) -> Reply:
            if "last=b" in seen.path:
                return Reply(200, {"Link": f'<{fake.url}/v2/team/app/tags/list?opaque=1>; rel="next"'}, b'{"tags":["c","d"]}')
            if "opaque=1" in seen.path:
                return Reply(200, {}, b'{"tags":["e"]}')
            return Reply(200, {"Link": '</v2/team/app/tags/list?n=2&last=b>; rel="next"'}, b'{"tags":["a","b"]}')

        fake.route("GET", "/v2/team/app/tags/list", page)

        async def tags() -> list[str]:
            async with RegistryClient(fake.url, retry=FAST) as client:
                return await client.list_tags("team/app")

        assert run(tags()) == ["a", "b", "c", "d", "e"]
        assert "n=1000" in fake.seen[0].path


def test_password_is_never_sent_to_a_plain_http_realm_off_loopback() -> None:
    with FakeRegistry() as fake:
        fake.route("GET", "/v2/team/app/tags/list", Reply(401, {"WWW-Authenticate": 'Bearer realm="http://auth.example.invalid/token",service="x"'}))

        async def tags() -> None:
            async with RegistryClient(fake.url, retry=FAST, credentials=Credentials("u", "secret")) as client:
                await client.list_tags("team/app")

        with pytest.raises(InsecureRequestError, match="refusing to send a password over plain HTTP"):
            run(tags())
