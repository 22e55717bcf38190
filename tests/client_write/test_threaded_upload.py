"""Large blobs moved by a worker thread (reginventory.client.bulk): real registries for the plain
case, a fake server for what only a misbehaving one does (redirects, wrong or cut bodies)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import threading
from pathlib import Path
from typing import Any, Callable

import pytest

from harness.fake_registry import FakeRegistry, Reply, Seen
from reginventory.client import bulk
from reginventory.client.auth import basic_header
from reginventory.client.credentials import Credentials
from reginventory.client.copy import BlobRef, file_source, registry_source
from reginventory.client.digest import sha256_digest
from reginventory.client.registry_client import RegistryClient
from reginventory.client.registry_writer import RegistryWriter, StreamDigest, bytes_source
from reginventory.client.transport import TLSOptions
from reginventory.errors import DigestMismatchError

from .helpers import access_log, run

CHUNK = 2 * 1024 * 1024
#: Over MONOLITHIC_MAX_BYTES, so the chunked path (and the thread) is taken: 5 PATCHes of CHUNK.
SIZE = 9 * 1024 * 1024 + 321


def _data(seed: int) -> bytes:
    return random.Random(seed).randbytes(SIZE)


async def _push(writer: RegistryWriter, repository: str, source: Any) -> tuple[str, int, int]:
    outcome = await writer.push_blob(repository, source)
    return outcome, writer.threaded_uploads, writer.threaded_fallbacks


def test_a_blob_moves_by_the_thread_from_a_registry_and_from_a_file(
    registry: Any, registry_dest: Any, make_repo: Callable[[], str], tmp_path: Path
) -> None:
    data, src_repo, dst_repo, file_repo = _data(1), make_repo(), make_repo(), make_repo()
    digest = sha256_digest(data)
    path = tmp_path / "blob"
    path.write_bytes(data)

    async def go(src: RegistryClient, dst: RegistryClient) -> tuple[Any, ...]:
        async with RegistryWriter(src) as seed:
            await seed.push_blob(src_repo, bytes_source(data))  # the async path (no direct source)
            assert seed.threaded_uploads == 0
        async with RegistryWriter(dst, chunk_size=CHUNK) as writer:
            from_registry = await _push(writer, dst_repo, registry_source(src, src_repo, BlobRef(digest, SIZE)))
        async with RegistryWriter(dst, chunk_size=CHUNK) as writer:
            from_file = await _push(writer, file_repo, file_source(path, BlobRef(digest, SIZE)))
        copied = await dst.get_blob(dst_repo, digest, 2 * SIZE)
        pushed = await dst.get_blob(file_repo, digest, 2 * SIZE)
        return from_registry, from_file, copied, pushed

    from_registry, from_file, copied, pushed = run(go, registry.url, registry_dest.url)
    assert from_registry == ("uploaded", 1, 0) and from_file == ("uploaded", 1, 0)
    assert copied == data and pushed == data
    for repo in (dst_repo, file_repo):
        patches = access_log(registry_dest, "PATCH", repo)
        assert [status for _, status, _ in patches] == [202] * 5  # 4 full chunks and the rest
        assert len(access_log(registry_dest, "PUT", f"{repo}/blobs/uploads/.*digest=")) == 1


def test_the_thread_carries_bearer_tokens(registry_token: Any, registry: Any, make_repo: Callable[[], str],
                                          tmp_path: Path) -> None:
    data, src_repo, dst_repo = _data(2), make_repo(), make_repo()
    digest = sha256_digest(data)
    path = tmp_path / "blob"
    path.write_bytes(data)
    user = {"username": registry_token.username, "password": registry_token.password}

    async def go(src: RegistryClient) -> tuple[Any, ...]:
        async with RegistryWriter(src, chunk_size=CHUNK) as writer:
            pushed = await _push(writer, src_repo, file_source(path, BlobRef(digest, SIZE)))
        async with RegistryClient(registry.url, use_docker_config=False) as dst:
            async with RegistryWriter(dst, chunk_size=CHUNK) as writer:
                copied = await _push(writer, dst_repo, registry_source(src, src_repo, BlobRef(digest, SIZE)))
            return pushed, copied, await dst.get_blob(dst_repo, digest, 2 * SIZE)

    pushed, copied, got = run(go, registry_token.url, **user)
    assert pushed == ("uploaded", 1, 0)  # PATCHes with the push token the POST fetched
    assert copied == ("uploaded", 1, 0)  # the GET with the pull token the HEAD fetched
    assert got == data


def test_the_thread_renews_a_token_that_expires_between_patches(
    fresh_registry: Callable[..., Any], registry: Any, cutting_proxy: Callable[..., Any], make_repo: Callable[[], str]
) -> None:
    """Tokens of 11 s, which the client renews 10 s before they expire: a PATCH that starts more
    than a second after the last token needs a new one, which the thread gets from the event
    loop; the upload stays on the thread (a 401 would have sent it to the async path)."""
    dst = fresh_registry("token", expires_in=11)
    data, src_repo, dst_repo = _data(10), make_repo(), make_repo()
    digest = sha256_digest(data)
    proxy = cutting_proxy(registry.url, delay=0.02)  # the source at about 3 MB/s: ~3 s for the blob

    async def seed(client: RegistryClient) -> None:
        async with RegistryWriter(client) as writer:
            await writer.push_blob(src_repo, bytes_source(data))

    run(seed, registry.url)
    scope = f"repository:{dst_repo}:pull,push"

    async def go(src: RegistryClient) -> tuple[Any, ...]:
        async with RegistryClient(dst.url, use_docker_config=False, username=dst.username, password=dst.password) as client:
            async with RegistryWriter(client, chunk_size=CHUNK) as writer:
                outcome = await _push(writer, dst_repo, registry_source(src, src_repo, BlobRef(digest, SIZE)))
            return outcome, await client.get_blob(dst_repo, digest, 2 * SIZE)

    outcome, got = run(go, proxy.url)
    assert outcome == ("uploaded", 1, 0) and got == data
    # The POST's token, then renewals: PATCH k starts at least (k - 1) x 0.58 s later (the
    # source's sleeps), so PATCHes 3 and 5 each need a new token; without renewals the thread
    # would send the first one throughout, and only the closing PUT might fetch another.
    assert dst.token_issuer.count(scope) >= 3


def test_the_thread_verifies_tls_with_the_given_ca(registry_tls: Any, make_repo: Callable[[], str],
                                                   tmp_path: Path) -> None:
    data, repo = _data(3), make_repo()
    digest = sha256_digest(data)
    path = tmp_path / "blob"
    path.write_bytes(data)
    trusted = TLSOptions(ca_bundle=str(registry_tls.ca_path))

    async def go(client: RegistryClient) -> tuple[Any, ...]:
        async with RegistryWriter(client, chunk_size=CHUNK) as writer:
            outcome = await _push(writer, repo, file_source(path, BlobRef(digest, SIZE)))
            location = await writer.start_upload(repo)
        # The same session, from a thread that trusts only the system's CAs: refused.
        target = bulk.UploadTarget(str(location), lambda url: None, TLSOptions(), CHUNK)
        with pytest.raises(bulk.NotServed, match="CERTIFICATE_VERIFY_FAILED"):
            await asyncio.to_thread(bulk.upload, bulk.FileSource(path), SIZE, target, StreamDigest(digest),
                                    bulk.Interrupt())
        return outcome, await client.get_blob(repo, digest, 2 * SIZE)

    outcome, got = run(go, registry_tls.url, tls=trusted)
    assert outcome == ("uploaded", 1, 0) and got == data


def _fake_source(fake: FakeRegistry, digest: str, serve: Callable[[Seen], Reply]) -> None:
    fake.route("HEAD", f"/v2/team/app/blobs/{digest}", Reply(200, {"Content-Length": str(SIZE)}))
    fake.route("GET", f"/v2/team/app/blobs/{digest}", serve)


def _copy_from_fake(fake: FakeRegistry, registry: Any, repo: str, digest: str, **src_options: Any) -> tuple[Any, ...]:
    async def go(dst: RegistryClient) -> tuple[Any, ...]:
        async with RegistryClient(fake.url, use_docker_config=False, **src_options) as src:
            await src.head_blob("team/app", digest)  # what a copy does first: it learns the auth
            async with RegistryWriter(dst, chunk_size=CHUNK) as writer:
                try:
                    return await _push(writer, repo, registry_source(src, "team/app", BlobRef(digest, SIZE)))
                finally:
                    counts = (writer.threaded_uploads, writer.threaded_fallbacks)
                    fake.counts = counts  # type: ignore[attr-defined]

    return run(go, registry.url)


def test_a_redirected_source_is_followed_without_credentials(registry: Any, make_repo: Callable[[], str]) -> None:
    data, repo = _data(4), make_repo()
    digest = sha256_digest(data)
    credentials = basic_header(Credentials("user", "secret"))
    with FakeRegistry() as fake, FakeRegistry("127.0.0.2") as storage:
        def registry_route(seen: Seen) -> Reply:
            if seen.headers.get("authorization") != credentials:
                return Reply(401, {"WWW-Authenticate": 'Basic realm="fake"'}, b"{}")
            if seen.method == "HEAD":
                return Reply(200, {"Content-Length": str(SIZE)})
            return Reply(307, {"Location": f"{storage.url}/storage/blob?sig=abc"})

        fake.route("HEAD", f"/v2/team/app/blobs/{digest}", registry_route)
        fake.route("GET", f"/v2/team/app/blobs/{digest}", registry_route)
        storage.route("GET", "/storage/blob", Reply(200, {}, data))
        outcome = _copy_from_fake(fake, registry, repo, digest, username="user", password="secret")
        assert outcome == ("uploaded", 1, 0)
        [get] = storage.seen
        assert "authorization" not in get.headers
        assert [s.headers.get("authorization") for s in fake.seen if s.method == "GET"] == [credentials]
    assert run(lambda c: c.get_blob(repo, digest, 2 * SIZE), registry.url) == data


def test_wrong_bytes_are_never_committed_and_not_fetched_again(registry: Any, make_repo: Callable[[], str]) -> None:
    data, repo = _data(5), make_repo()
    digest = sha256_digest(data)
    with FakeRegistry() as fake:
        _fake_source(fake, digest, lambda seen: Reply(200, {}, _data(6)))  # same size, other bytes
        with pytest.raises(DigestMismatchError):
            _copy_from_fake(fake, registry, repo, digest)
        assert fake.counts == (0, 0)  # type: ignore[attr-defined]
        assert len([s for s in fake.seen if s.method == "GET"]) == 1
    assert not access_log(registry, "PUT", f"{repo}/blobs/uploads/.*digest=")


@pytest.mark.parametrize("extra", [0, 7, -7])
def test_a_chunked_source_is_moved_and_its_length_checked(registry: Any, make_repo: Callable[[], str], extra: int) -> None:
    """No Content-Length (chunked, as behind some proxies): the thread moves the bytes and checks
    the length itself; a source longer or shorter than the descriptor is never committed."""
    data, repo = _data(9), make_repo()
    digest = sha256_digest(data)
    body = data + b"x" * extra if extra >= 0 else data[:extra]
    with FakeRegistry() as fake:
        _fake_source(fake, digest, lambda seen: Reply(200, {}, body, chunked=True))
        if extra:
            with pytest.raises(DigestMismatchError, match="more than its|bytes, its descriptor says"):
                _copy_from_fake(fake, registry, repo, digest)
            assert fake.counts == (0, 0)  # type: ignore[attr-defined]
            assert not access_log(registry, "PUT", f"{repo}/blobs/uploads/.*digest=")
            return
        assert _copy_from_fake(fake, registry, repo, digest) == ("uploaded", 1, 0)
    assert run(lambda c: c.get_blob(repo, digest, 2 * SIZE), registry.url) == data


def test_a_cut_source_falls_back_to_the_async_path_on_a_new_session(registry: Any, make_repo: Callable[[], str]) -> None:
    data, repo = _data(7), make_repo()
    digest = sha256_digest(data)
    gets: list[int] = []

    def serve(seen: Seen) -> Reply:
        gets.append(1)
        return Reply(200, {}, data, truncate_to=3 * CHUNK + 5) if len(gets) == 1 else Reply(200, {}, data)

    with FakeRegistry() as fake:
        _fake_source(fake, digest, serve)
        assert _copy_from_fake(fake, registry, repo, digest) == ("uploaded", 0, 1)
    assert len(gets) == 2
    assert run(lambda c: c.get_blob(repo, digest, 2 * SIZE), registry.url) == data
    # The thread's session had bytes: a cancel was sent (distribution refuses it after a broken
    # PATCH and purges the session itself), and the async path used a new session.
    def session(path: str) -> str:
        return path.split("/blobs/uploads/")[1].split("?")[0]

    assert len(access_log(registry, "DELETE", f"{repo}/blobs/uploads/")) == 1
    sessions = list(dict.fromkeys(session(path) for path, _, _ in access_log(registry, "PATCH", repo)))
    [(put, status, _)] = access_log(registry, "PUT", f"{repo}/blobs/uploads/.*digest=")
    assert len(sessions) == 2 and session(put) == sessions[1] and status == 201


def test_a_challenge_the_thread_cannot_answer_goes_to_the_async_path(registry: Any, make_repo: Callable[[], str]) -> None:
    """Credentials, but no challenge seen yet: the thread's GET gets a 401 before any byte moved,
    and the async path (which runs the auth flow) uploads on the same session."""
    data, repo = _data(8), make_repo()
    digest = sha256_digest(data)
    credentials = basic_header(Credentials("user", "secret"))

    def serve(seen: Seen) -> Reply:
        if seen.headers.get("authorization") != credentials:
            return Reply(401, {"WWW-Authenticate": 'Basic realm="fake"'}, b"{}")
        return Reply(200, {}, data)

    with FakeRegistry() as fake:
        fake.route("GET", f"/v2/team/app/blobs/{digest}", serve)

        async def go(dst: RegistryClient) -> tuple[Any, ...]:
            async with RegistryClient(fake.url, use_docker_config=False, username="user", password="secret") as src:
                async with RegistryWriter(dst, chunk_size=CHUNK) as writer:
                    return await _push(writer, repo, registry_source(src, "team/app", BlobRef(digest, SIZE)))

        assert run(go, registry.url) == ("uploaded", 0, 1)
    assert not access_log(registry, "DELETE", f"{repo}/blobs/uploads/")
    assert run(lambda c: c.get_blob(repo, digest, 2 * SIZE), registry.url) == data


def test_an_interrupt_stops_a_thread_blocked_on_a_silent_source(registry: Any, make_repo: Callable[[], str]) -> None:
    repo = make_repo()
    digest = sha256_digest(b"never sent")
    asked, release = threading.Event(), threading.Event()

    def stall(seen: Seen) -> Reply:
        asked.set()
        release.wait(60)
        return Reply(500)

    async def location(client: RegistryClient) -> str:
        async with RegistryWriter(client) as writer:
            return str(await writer.start_upload(repo))

    target = bulk.UploadTarget(run(location, registry.url), lambda url: None, TLSOptions(), CHUNK)
    outcome: list[BaseException] = []
    with FakeRegistry() as fake:
        fake.route("GET", f"/v2/team/app/blobs/{digest}", stall)
        source = bulk.HttpSource(f"{fake.url}/v2/team/app/blobs/{digest}", None, TLSOptions())
        interrupt = bulk.Interrupt()

        def move() -> None:
            try:
                bulk.upload(source, SIZE, target, StreamDigest(digest), interrupt)
            except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
                outcome.append(exc)

        thread = threading.Thread(target=move)
        thread.start()
        assert asked.wait(30)
        interrupt.set()
        thread.join(30)
        stopped = not thread.is_alive()
        release.set()
    assert stopped
    assert len(outcome) == 1 and isinstance(outcome[0], bulk.NotServed) and not outcome[0].sent


def test_ctrl_c_during_a_threaded_copy_does_not_wait_for_the_source(registry: Any, make_repo: Callable[[], str]) -> None:
    """A real SIGINT while the thread waits on a silent source: the copy ends (the thread's
    sockets are shut down) while the source still holds its answer back."""
    repo = make_repo()
    digest = sha256_digest(b"held back")
    asked, release = threading.Event(), threading.Event()
    answered_by_itself: list[bool] = []

    def stall(seen: Seen) -> Reply:
        asked.set()
        answered_by_itself.append(not release.wait(60))
        return Reply(500)

    def interrupt_when_asked() -> None:
        if asked.wait(30):
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C

    with FakeRegistry() as fake:
        fake.route("GET", f"/v2/team/app/blobs/{digest}", stall)

        async def go(dst: RegistryClient) -> None:
            async with RegistryClient(fake.url, use_docker_config=False) as src:
                async with RegistryWriter(dst, chunk_size=CHUNK) as writer:
                    await writer.push_blob(repo, registry_source(src, "team/app", BlobRef(digest, SIZE)))

        threading.Thread(target=interrupt_when_asked, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            run(go, registry.url)
        held = not answered_by_itself  # the source has not answered: nothing waited for it
        release.set()
    assert asked.is_set() and held
