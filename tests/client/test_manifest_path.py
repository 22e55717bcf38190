"""The lean manifest path (HEAD/GET manifests without httpx) keeps the behaviours of the httpx
path: token refresh, redirects that drop ``Authorization`` across hosts, error context."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from harness.fake_registry import FakeRegistry, Reply, Seen
from harness.images import push, sample_images

from reginventory.client import mediatypes as mt
from reginventory.client.credentials import Credentials
from reginventory.client.digest import sha256_digest
from reginventory.client.registry_client import ManifestHead, RegistryClient
from reginventory.client.transport import RetryPolicy
from reginventory.errors import NotFoundError

FAST = RetryPolicy(attempts=3, base_seconds=0.01, max_wait_seconds=0.05)
MANIFEST = b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", ' \
    b'"config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:' + b"c" * 64 + \
    b'", "size": 2}, "layers": []}'
DIGEST = sha256_digest(MANIFEST)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_refused_token_is_replaced_once(registry_token: Any, token_issuer: Any, unique_repo: str) -> None:
    item = sample_images()["hello"]
    push(registry_token, item, unique_repo, "v1")
    token_issuer.clear()

    async def work() -> tuple[int, int, int, str]:
        creds = Credentials(registry_token.username, registry_token.password)
        async with RegistryClient(registry_token.url, credentials=creds) as client:
            first = await client.head_manifest(unique_repo, "v1")
            before = client.requests
            for _ in range(3):
                await client.head_manifest(unique_repo, "v1")  # the cached token, no 401
            cached = client.requests - before
            # The registry stops accepting the cached token (revoked, or expired early).
            for token in client.auth._tokens.values():
                token.value = "revoked"
            start = client.requests
            again = await client.get_manifest(unique_repo, "v1")
            assert again.digest == first.digest
            return cached, client.requests - start, client.auth.token_requests, first.digest

    cached, refreshed, token_requests, digest = run(work())
    assert digest == item.digest
    assert cached == 3  # one request per HEAD once the token is known
    assert refreshed == 2  # the refused request, then the same one with a new token
    assert token_requests == 2 and token_issuer.count(f"repository:{unique_repo}:pull") == 2


def test_manifest_redirect_to_another_host_drops_authorization() -> None:
    with FakeRegistry("127.0.0.2") as storage, FakeRegistry() as fake:
        storage.route("GET", "/manifest", Reply(200, {"Content-Type": mt.OCI_MANIFEST}, MANIFEST))

        def needs_auth(seen: Seen) -> Reply:
            if "authorization" not in seen.headers:
                return Reply(401, {"WWW-Authenticate": 'Basic realm="fake"'})
            return Reply(307, {"Location": f"{storage.url}/manifest"})

        fake.route("GET", "/v2/team/app/manifests/v1", needs_auth)

        async def fetch() -> list[int]:
            async with RegistryClient(fake.url, retry=FAST, credentials=Credentials("u", "secret")) as client:
                sent = []
                for _ in range(3):
                    before = len(fake.seen)
                    assert (await client.get_manifest("team/app", "v1")).digest == DIGEST
                    sent.append(len(fake.seen) - before)
                return sent

        # 401 then Basic; redirected (the lean path steps aside); then httpx alone
        assert run(fetch()) == [2, 2, 1]
        assert all(s.headers["authorization"].startswith("Basic ") for s in fake.seen[1:])
        assert all(s.headers.get("accept-encoding") == "identity" for s in fake.seen)
        assert len(storage.seen) == 3 and all("authorization" not in s.headers for s in storage.seen)


def test_missing_manifest_names_the_place_on_head_and_get(registry: Any, unique_repo: str) -> None:
    push(registry, sample_images()["hello"], unique_repo, "v1")

    async def missing(method: str) -> NotFoundError:
        async with RegistryClient(registry.url, retry=FAST) as client:
            call = client.head_manifest if method == "HEAD" else client.get_manifest
            with pytest.raises(NotFoundError) as err:
                await call(unique_repo, "nope")
            assert client.requests == 1
            return err.value

    for method in ("HEAD", "GET"):
        error = run(missing(method))
        assert (error.registry, error.repository, error.reference, error.status) == (registry.host, unique_repo, "nope", 404)
        assert method in str(error) and unique_repo in str(error)


def test_conditional_head_confirms_or_sees_the_move(registry: Any, unique_repo: str) -> None:
    images = sample_images()
    first, second = list(images.values())[:2]
    push(registry, first, unique_repo, "v1")

    async def head(known: ManifestHead | None) -> tuple[ManifestHead, int]:
        async with RegistryClient(registry.url, retry=FAST) as client:
            answer = await client.head_manifest(unique_repo, "v1", known)
            return answer, client.requests

    plain, _ = run(head(None))
    assert plain.digest == first.digest
    known = ManifestHead(plain.digest, plain.media_type, 123)  # a 304 gives back what was known
    assert run(head(known)) == (known, 1)
    push(registry, second, unique_repo, "v1")
    moved, requests = run(head(known))
    assert (moved.digest, requests) == (second.digest, 1) and moved.size > 0


def test_retries_are_counted_apart_from_requests() -> None:
    replies = iter([Reply(503), Reply(429, {"Retry-After": "0"}), Reply(200, {"Content-Type": mt.OCI_MANIFEST}, MANIFEST)])
    with FakeRegistry() as fake:
        fake.route("GET", "/v2/team/app/manifests/v1", lambda _: next(replies))

        async def fetch() -> tuple[str, int, int]:
            async with RegistryClient(fake.url, retry=FAST) as client:
                manifest = await client.get_manifest("team/app", "v1")
                return manifest.digest, client.requests, client.retries

        assert run(fetch()) == (DIGEST, 3, 2)


def test_every_request_asks_for_uncompressed_bodies() -> None:
    """Bodies are read raw (and hashed): no request may invite a compressing proxy to gzip them."""
    manifest_head = Reply(200, {"Content-Type": mt.OCI_MANIFEST, "Docker-Content-Digest": DIGEST,
                                "Content-Length": str(len(MANIFEST))})
    with FakeRegistry() as fake:
        fake.route("GET", "/v2/", Reply(200, {}, b"{}"))
        fake.route("GET", "/v2/team/app/tags/list", Reply(200, {"Content-Type": "application/json"},
                                                          b'{"name":"team/app","tags":["v1"]}'))
        fake.route("HEAD", "/v2/team/app/manifests/v1", manifest_head)
        fake.route("GET", f"/v2/team/app/blobs/sha256:{'c' * 64}", Reply(200, {"Content-Length": "2"}, b"{}"))

        async def go() -> None:
            async with RegistryClient(fake.url, use_docker_config=False, retry=FAST) as client:
                assert await client.ping()
                assert await client.list_tags("team/app") == ["v1"]
                assert (await client.head_manifest("team/app", "v1")).digest == DIGEST
                async for _ in client.stream_blob("team/app", f"sha256:{'c' * 64}"):
                    pass

        run(go())
        assert len(fake.seen) == 4
        assert {s.headers.get("accept-encoding") for s in fake.seen} == {"identity"}
