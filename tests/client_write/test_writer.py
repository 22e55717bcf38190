"""RegistryWriter against real distribution 2.8 registries: uploads, mounts, manifests, deletes."""

from __future__ import annotations

import json
import random
from typing import Any, Callable

import pytest

from harness.images import build_image, build_index, inspect_raw, push, random_layer, tag_existing, ImageSpec
from reginventory.client.digest import sha256_digest
from reginventory.client.registry_client import RegistryClient
from reginventory.client.registry_writer import (
    DELETE_HINT,
    BlobSource,
    RegistryWriter,
    bytes_source,
)
from reginventory.errors import DigestMismatchError, NotFoundError, RegistryError, UnauthorizedError, UnsupportedError

from .helpers import access_log, run


def _image(seed: int, **spec: Any):  # type: ignore[no-untyped-def]
    return build_image(ImageSpec(layers=[{"seed": str(seed)}, {"more": f"{seed}-x"}], **spec))


def test_monolithic_and_chunked_uploads_store_exact_bytes(registry: Any, unique_repo: str) -> None:
    small = random.Random(1).randbytes(100_000)
    large = random.Random(2).randbytes(5 * 1024 * 1024 + 123)  # > MONOLITHIC_MAX_BYTES

    async def go(client: RegistryClient) -> tuple[str, str, bytes, bytes]:
        async with RegistryWriter(client, chunk_size=1024 * 1024) as writer:
            a = await writer.push_blob(unique_repo, bytes_source(small))
            b = await writer.push_blob(unique_repo, bytes_source(large))
            again = await writer.push_blob(unique_repo, bytes_source(large))
            assert again == "exists"
            return a, b, await client.get_blob(unique_repo, sha256_digest(small), 1 << 20), \
                await client.get_blob(unique_repo, sha256_digest(large), 10 << 20)

    a, b, got_small, got_large = run(go, registry.url)
    assert (a, b) == ("uploaded", "uploaded")
    assert got_small == small and got_large == large
    patches = access_log(registry, "PATCH", unique_repo)
    assert len(patches) == 6 and all(status == 202 for _, status, _ in patches)  # 5 full chunks + the rest


def test_a_source_that_does_not_match_its_digest_is_never_committed(registry: Any, unique_repo: str) -> None:
    data = random.Random(3).randbytes(6 * 1024 * 1024)
    lie = sha256_digest(b"something else entirely")

    async def go(client: RegistryClient) -> None:
        async with RegistryWriter(client, chunk_size=1024 * 1024) as writer:
            with pytest.raises(DigestMismatchError):
                await writer.push_blob(unique_repo, BlobSource(lie, len(data), bytes_source(data).open))
            with pytest.raises(DigestMismatchError):  # small: the monolithic path
                await writer.push_blob(unique_repo, BlobSource(lie, 10, bytes_source(b"0123456789").open))
            with pytest.raises(DigestMismatchError):  # fewer bytes than the size says
                await writer.push_blob(unique_repo, BlobSource(sha256_digest(data), len(data) + 5, bytes_source(data).open))
            assert not await writer.blob_exists(unique_repo, lie)

    run(go, registry.url)
    assert not access_log(registry, "PUT", f"{unique_repo}/blobs/uploads/.*digest=")


def test_cross_repository_mount(registry: Any, make_repo: Callable[[], str]) -> None:
    src, dst = make_repo(), make_repo()
    image = _image(10)
    push(registry, image, src, "v1", verify=False)

    async def go(client: RegistryClient) -> list[bool]:
        async with RegistryWriter(client) as writer:
            return [await writer.mount_blob(dst, d, src) for d in (image.config_digest, *image.layer_digests)] + [
                await writer.mount_blob(dst, sha256_digest(b"not there"), src)
            ]

    assert run(go, registry.url) == [True, True, True, False]
    mounts = access_log(registry, "POST", f"{dst}/blobs/uploads/.*mount=")
    assert [status for _, status, _ in mounts] == [201, 201, 201, 202]


def test_mount_on_a_token_registry_asks_for_pull_on_the_source(registry_token: Any, token_issuer: Any,
                                                              make_repo: Callable[[], str]) -> None:
    src, dst = make_repo(), make_repo()
    image = _image(11)
    push(registry_token, image, src, "v1", verify=False)
    token_issuer.clear()

    async def go(client: RegistryClient) -> bool:
        async with RegistryWriter(client) as writer:
            return await writer.mount_blob(dst, image.layer_digests[0], src)

    assert run(go, registry_token.url, username="alice", password="alice-secret") is True
    scopes = [set(r.scopes) for r in token_issuer.requests]
    assert any(f"repository:{src}:pull" in s and any(x.startswith(f"repository:{dst}:") for x in s) for s in scopes)


def test_push_rights_are_checked_before_any_blob(fresh_registry: Callable[..., Any], unique_repo: str) -> None:
    def acl(user: str | None, rtype: str, name: str) -> set[str]:
        return {"pull"} if rtype == "repository" else set()

    server = fresh_registry("token", users={"bob": "bob-secret"}, acl=acl)

    async def go(client: RegistryClient) -> None:
        async with RegistryWriter(client) as writer:
            with pytest.raises(UnauthorizedError):
                await writer.check_push(unique_repo)

    run(go, server.url, username="bob", password="bob-secret")
    assert server.blob_digests() == set()


def test_put_manifest_keeps_bytes_and_digest(registry: Any, unique_repo: str) -> None:
    image = _image(12)
    push(registry, image, unique_repo, "base", verify=False)
    raw = image.manifest.data

    async def go(client: RegistryClient) -> str:
        async with RegistryWriter(client) as writer:
            return await writer.put_manifest(unique_repo, "copy", raw, image.media_type)

    assert run(go, registry.url) == image.digest
    assert inspect_raw(registry, f"{unique_repo}:copy") == raw


def test_tag_image_puts_the_same_bytes(registry: Any, unique_repo: str) -> None:
    index = build_index([_image(13), _image(14, architecture="arm64")])
    push(registry, index, unique_repo, "v1", verify=False)

    async def go(client: RegistryClient) -> str:
        async with RegistryWriter(client) as writer:
            return await writer.tag_image(unique_repo, "v1", "stable")

    assert run(go, registry.url) == index.digest
    assert inspect_raw(registry, f"{unique_repo}:stable") == index.manifest.data


def test_delete_tag_on_distribution_removes_exactly_one_tag(registry: Any, unique_repo: str) -> None:
    image = _image(15)
    push(registry, image, unique_repo, "a", verify=False)
    for tag in ("b", "c"):
        tag_existing(registry, unique_repo, tag, image)

    async def go(client: RegistryClient) -> tuple[Any, list[str], list[str]]:
        async with RegistryWriter(client) as writer:
            done = await writer.delete_tag(unique_repo, "b")
            heads = [(await client.head_manifest(unique_repo, t)).digest for t in ("a", "c")]
            return done, sorted(await client.list_tags(unique_repo)), heads

    done, tags, heads = run(go, registry.url)
    assert done.method == "placeholder" and done.digest == image.digest and done.placeholder_digest != image.digest
    assert tags == ["a", "c"] and heads == [image.digest, image.digest]
    assert inspect_raw(registry, f"{unique_repo}:a") == image.manifest.data
    assert inspect_raw(registry, f"{unique_repo}@{image.digest}") == image.manifest.data
    # The registry refused the tag DELETE (400) before the placeholder took its place.
    assert (f"/v2/{unique_repo}/manifests/b", 400) in [(p, s) for p, s, _ in access_log(registry, "DELETE", unique_repo)]


def test_delete_tag_of_a_docker_image_uses_a_docker_placeholder(registry: Any, unique_repo: str) -> None:
    image = build_image(ImageSpec(layers=[{"d": "1"}], docker=True))
    push(registry, image, unique_repo, "x", verify=False)
    tag_existing(registry, unique_repo, "y", image)

    async def go(client: RegistryClient) -> list[str]:
        async with RegistryWriter(client) as writer:
            await writer.delete_tag(unique_repo, "x")
            return await client.list_tags(unique_repo)

    assert run(go, registry.url) == ["y"]


def test_deletes_disabled_give_the_fix_and_change_nothing(fresh_registry: Callable[..., Any], unique_repo: str) -> None:
    server = fresh_registry(delete_enabled=False)
    image = _image(16)
    push(server, image, unique_repo, "a", verify=False)
    tag_existing(server, unique_repo, "b", image)

    async def go(client: RegistryClient) -> list[str]:
        async with RegistryWriter(client) as writer:
            for call in (writer.delete_tag(unique_repo, "a"), writer.delete_manifest(unique_repo, image.digest),
                         writer.delete_image(unique_repo, "a"), writer.delete_blob(unique_repo, image.layer_digests[0])):
                with pytest.raises(UnsupportedError) as caught:
                    await call
                assert "storage.delete.enabled: true" in str(caught.value)
                assert "REGISTRY_STORAGE_DELETE_ENABLED=true" in str(caught.value)
            return sorted(await client.list_tags(unique_repo))

    assert run(go, server.url) == ["a", "b"]
    assert inspect_raw(server, f"{unique_repo}:a") == image.manifest.data  # no placeholder was left on the tag
    assert "storage.delete.enabled" in DELETE_HINT


def test_delete_image_reports_every_tag_of_the_digest(registry: Any, unique_repo: str) -> None:
    image, other = _image(17), _image(18)
    push(registry, image, unique_repo, "one", verify=False)
    push(registry, other, unique_repo, "other", verify=False)
    for tag in ("two", "three"):
        tag_existing(registry, unique_repo, tag, image)

    async def go(client: RegistryClient) -> tuple[Any, Any, list[str]]:
        async with RegistryWriter(client) as writer:
            preview = await writer.delete_image(unique_repo, "two", dry_run=True)
            assert sorted(await client.list_tags(unique_repo)) == ["one", "other", "three", "two"]
            report = await writer.delete_image(unique_repo, "two")
            return preview, report, await client.list_tags(unique_repo)

    preview, report, left = run(go, registry.url)
    assert preview.tags == report.tags == ("one", "three", "two")
    assert report.digest == image.digest and not report.dry_run
    assert left == ["other"]


def test_delete_image_with_layers_keeps_shared_blobs(registry: Any, unique_repo: str) -> None:
    shared = random_layer(2048, 7)
    doomed = build_image(ImageSpec(layers=[shared, {"only": "doomed"}]))
    kept = build_image(ImageSpec(layers=[shared, {"only": "kept"}], labels={"k": "v"}))
    push(registry, doomed, unique_repo, "doomed", verify=False)
    push(registry, kept, unique_repo, "kept", verify=False)

    async def go(client: RegistryClient) -> tuple[Any, dict[str, int | None]]:
        async with RegistryWriter(client) as writer:
            report = await writer.delete_image(unique_repo, "doomed", layers=True)
            sizes = {d: await client.head_blob(unique_repo, d) for d in (*doomed.layer_digests, doomed.config_digest)}
            return report, sizes

    report, sizes = run(go, registry.url)
    assert report.blobs_kept == (shared.digest,)
    assert set(report.blobs_deleted) == {doomed.config_digest, doomed.layer_digests[1]}
    assert sizes[shared.digest] is not None and sizes[doomed.layer_digests[1]] is None
    assert inspect_raw(registry, f"{unique_repo}:kept") == kept.manifest.data


def test_delete_index_deletes_children_no_other_tag_uses(registry: Any, unique_repo: str) -> None:
    amd, arm, riscv = _image(20), _image(21, architecture="arm64"), _image(22, architecture="riscv64")
    doomed = build_index([amd, arm])
    kept = build_index([arm, riscv])
    push(registry, doomed, unique_repo, "doomed", verify=False)
    push(registry, kept, unique_repo, "kept", verify=False)

    async def go(client: RegistryClient) -> tuple[Any, list[bool]]:
        async with RegistryWriter(client) as writer:
            report = await writer.delete_image(unique_repo, "doomed")
            present = []
            for child in (amd, arm, riscv):
                try:
                    await client.head_manifest(unique_repo, child.digest)
                    present.append(True)
                except NotFoundError:
                    present.append(False)
            return report, present

    report, present = run(go, registry.url)
    assert report.children == (amd.digest,) and report.children_kept == (arm.digest,)
    assert present == [False, True, True]
    assert json.loads(inspect_raw(registry, f"{unique_repo}:kept"))["manifests"][0]["digest"] == arm.digest


def test_an_upload_location_on_another_host_gets_no_credentials() -> None:
    from harness.fake_registry import FakeRegistry, Reply

    data = b"a small blob for the storage backend"
    digest = sha256_digest(data)
    credentials = "Basic " + __import__("base64").b64encode(b"user:secret").decode()
    with FakeRegistry() as fake, FakeRegistry("127.0.0.2") as storage:
        def registry_route(reply: Reply) -> Callable[[Any], Reply]:
            return lambda seen: reply if seen.headers.get("authorization") == credentials else Reply(
                401, {"WWW-Authenticate": 'Basic realm="fake"'}, b"{}")

        fake.route("POST", "/v2/team/app/blobs/uploads/",
                   registry_route(Reply(202, {"Location": f"{storage.url}/upload/1?sig=a%2Bb"})))
        storage.route("PUT", "/upload/1", Reply(201, {"Docker-Content-Digest": digest}))

        async def go(client: RegistryClient) -> str:
            async with RegistryWriter(client) as writer:
                return await writer.push_blob("team/app", bytes_source(data))

        assert run(go, fake.url, username="user", password="secret") == "uploaded"
        [put] = storage.seen
        # The query is kept verbatim (a%2Bb stays escaped) and digest= is appended with "&".
        assert put.method == "PUT" and put.path.replace("%3A", ":") == f"/upload/1?sig=a%2Bb&digest={digest}"
        assert "authorization" not in put.headers
        assert any(s.headers.get("authorization") == credentials for s in fake.seen if s.method == "POST")


@pytest.mark.parametrize("image_survives", [True, False])
def test_delete_tag_through_the_oci_tag_delete_api(image_survives: bool) -> None:
    """A registry that deletes tags (202) gets one DELETE; one that took the tag for its image is caught."""
    from harness.fake_registry import FakeRegistry, Reply

    manifest = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'
    digest = sha256_digest(manifest)
    present = Reply(200, {"Content-Type": "application/vnd.oci.image.manifest.v1+json",
                          "Docker-Content-Digest": digest, "Content-Length": str(len(manifest))})
    with FakeRegistry() as fake:
        fake.route("HEAD", "/v2/team/app/manifests/old", present)
        fake.route("DELETE", "/v2/team/app/manifests/old", Reply(202))
        fake.route("HEAD", f"/v2/team/app/manifests/{digest}", present if image_survives else Reply(404, {}, b""))

        async def go(client: RegistryClient) -> Any:
            async with RegistryWriter(client) as writer:
                return await writer.delete_tag("team/app", "old")

        if image_survives:
            done = run(go, fake.url)
            assert (done.method, done.digest, done.placeholder_digest) == ("api", digest, None)
        else:
            with pytest.raises(RegistryError, match="deleted"):
                run(go, fake.url)
        assert [s.method for s in fake.seen if s.method in ("PUT", "POST", "PATCH")] == []  # no placeholder
