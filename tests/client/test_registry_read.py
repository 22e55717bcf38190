"""The read path against the real distribution server, checked against skopeo and the harness."""

from __future__ import annotations

import asyncio
import json
import subprocess
from typing import Any

import pytest

from reginventory import Registry, RegistryClient
from reginventory.client.credentials import Credentials
from reginventory.client.manifest import IndexManifest
from reginventory.errors import NotFoundError, PlatformNotFoundError, RegistryUnavailableError, UnauthorizedError


def skopeo_raw(server: Any, repository: str, reference: str) -> bytes:
    sep = "@" if reference.startswith("sha256:") else ":"
    return subprocess.run(
        ["skopeo", "inspect", "--raw", *server.skopeo_args(), f"docker://{server.host}/{repository}{sep}{reference}"],
        check=True, capture_output=True,
    ).stdout


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_parity_with_skopeo_and_the_pushed_content(registry: Any, sample_images: Any) -> None:
    """Digest, media type, platforms, layers and sizes equal what skopeo and the harness report."""
    reg = Registry(registry.url)
    checked = 0
    for pushed in sample_images.pushed_tags():
        repository, tag, item = pushed.repository, pushed.tag, pushed.item
        raw = skopeo_raw(registry, repository, tag)
        meta = reg.get_tags(repository, metadata=True)
        by_tag = {m["tag"]: m for m in meta}
        assert by_tag[tag]["digest"] == item.digest, (repository, tag)
        assert by_tag[tag]["media_type"] == item.media_type
        assert by_tag[tag]["size"] == len(raw)

        async def fetch() -> Any:
            async with RegistryClient(registry.url) as client:
                return await client.get_manifest(repository, tag)

        manifest = run(fetch())
        assert manifest.raw == raw and manifest.digest == item.digest
        if isinstance(manifest, IndexManifest):
            assert [str(p) for p in manifest.platforms] == list(item.platforms)
            for child in item.children:
                if child.platform and str(child.platform) in item.platforms:
                    image = reg.repositories[repository].get_image(tag, arch=child.platform.architecture, oss=child.platform.os)
                    assert image.id == child.digest
                    assert [l.digest for l in image.manifest.layers] == list(child.layer_digests)
                    assert image.size() == child.image_size
        elif item.kind == "image":
            md = reg.get_image_metadata(repository, tag)
            assert md["digest"] == item.digest
            assert [l["digest"] for l in md["layers"]] == list(item.layer_digests)
            assert [l["size"] for l in md["layers"]] == list(item.layer_sizes)
            assert md["config_digest"] == item.config_digest and md["config_size"] == item.config_size
            assert md["size"] == item.config_size + sum(item.layer_sizes)
            assert md["labels"] == dict(item.labels)
            config = json.loads(subprocess.run(
                ["skopeo", "inspect", "--config", *registry.skopeo_args(), f"docker://{registry.host}/{repository}:{tag}"],
                check=True, capture_output=True).stdout)
            assert md["architecture"] == config["architecture"] and md["os"] == config["os"]
            if config.get("created", "1970-01-01T00:00:00Z").startswith("1970") or not config.get("created"):
                assert md["created"] is None
            else:
                assert md["created"][:19] == config["created"][:19]
        checked += 1
    assert checked >= 10


def test_catalog_and_tags_follow_link_pages(registry: Any, sample_images: Any) -> None:
    async def pages() -> list[list[str]]:
        async with RegistryClient(registry.url) as client:
            return [page async for page in client.catalog_pages(page_size=2)]

    result = run(pages())
    assert len(result) >= 3 and all(len(p) <= 2 for p in result)
    flat = [name for page in result for name in page]
    assert set(sample_images.repositories) <= set(flat)
    assert len(flat) == len(set(flat))


def test_seed_namespaces_and_repositories(registry: Any, sample_images: Any) -> None:
    reg = Registry(registry.url)
    assert {"library", "team-a", "team-b"} <= set(reg.namespaces)
    repos = reg.get_repositories(namespace_regexp="^team-a$")
    assert repos == {"team-a": ["team-a/app", "team-a/multi"]}
    assert "hello" in reg.get_repositories(regexp="^hello$")["library"]
    assert reg.get_namespaces("^team") == ["team-a", "team-b"]
    assert reg.authping() is True


def test_platform_selection_and_clear_error(registry: Any, sample_images: Any) -> None:
    repo = sample_images.repository_of("multi")
    multi = sample_images.roles["multi"]
    reg = Registry(registry.url)
    arm = next(c for c in multi.children if c.platform and c.platform.architecture == "arm64")
    assert reg.get_image_metadata(repo, "latest", arch="arm64", oss="linux")["digest"] == arm.digest
    with pytest.raises(PlatformNotFoundError, match="available: linux/amd64, linux/arm64/v8") as err:
        reg.get_image_size(repo, "latest", arch="s390x", oss="linux")
    assert repo in str(err.value)


def test_check_image(registry: Any, sample_images: Any) -> None:
    reg = Registry(registry.url)
    assert reg.check_image("team-a/app", "1.0.0") == 0
    assert reg.check_image("team-a/app", "no-such-tag") == 1


def test_not_found_names_registry_repository_and_reference(registry: Any, sample_images: Any) -> None:
    async def missing() -> None:
        async with RegistryClient(registry.url) as client:
            await client.get_manifest("team-a/app", "does-not-exist")

    with pytest.raises(NotFoundError) as err:
        run(missing())
    text = str(err.value)
    assert registry.host in text and "team-a/app" in text and "does-not-exist" in text
    assert err.value.codes == ("MANIFEST_UNKNOWN",)


def test_unreachable_registry_is_unavailable() -> None:
    from reginventory.client.transport import RetryPolicy

    async def ping() -> None:
        async with RegistryClient("127.0.0.1:9", retry=RetryPolicy(attempts=2, base_seconds=0.01)) as client:
            await client.list_tags("x")

    with pytest.raises(RegistryUnavailableError, match="cannot reach"):
        run(ping())


# -- auth and TLS variants --------------------------------------------------------------------


def test_basic_auth(registry_basic: Any, unique_repo: str) -> None:
    ok = Registry(registry_basic.url, username=registry_basic.username, password=registry_basic.password, skip_docker_config=True)
    assert ok.authping() is True
    assert isinstance(ok.catalog(), list)
    anonymous = Registry(registry_basic.url, skip_docker_config=True)
    assert anonymous.authping() is False
    wrong = Registry(registry_basic.url, username=registry_basic.username, password="wrong", skip_docker_config=True)
    with pytest.raises(UnauthorizedError, match="unauthorized"):
        wrong.catalog()


def test_tls_verification(registry_tls: Any) -> None:
    assert Registry(registry_tls.url, ca_bundle=str(registry_tls.ca_path)).authping() is True
    assert Registry(registry_tls.url, no_verify=True).authping() is True

    async def untrusted() -> None:
        from reginventory.client.transport import RetryPolicy

        async with RegistryClient(registry_tls.url, retry=RetryPolicy(attempts=1)) as client:
            await client.ping()

    with pytest.raises(RegistryUnavailableError, match="(?i)certificate"):
        run(untrusted())


def test_bearer_token_flow_caches_per_scope(registry_token: Any, token_issuer: Any, unique_repo: str) -> None:
    from harness.images import push, sample_images as build_samples

    item = build_samples()["hello"]
    push(registry_token, item, unique_repo, "v1")
    token_issuer.clear()

    async def work() -> tuple[list[str], list[str], int]:
        creds = Credentials(registry_token.username, registry_token.password)
        async with RegistryClient(registry_token.url, credentials=creds) as client:
            catalog = await client.catalog()
            tags = []
            for _ in range(5):
                tags = await client.list_tags(unique_repo)
                await client.get_manifest(unique_repo, "v1")
            return catalog, tags, client.auth.token_requests

    catalog, tags, token_requests = run(work())
    assert unique_repo in catalog and tags == ["v1"]
    assert token_requests == 2  # one for the catalog scope, one for the repository: cached after
    assert token_issuer.count(f"repository:{unique_repo}:pull") == 1


def test_anonymous_token_and_refused_catalog(registry_token: Any, token_issuer: Any, unique_repo: str) -> None:
    from harness.images import push, sample_images as build_samples

    push(registry_token, build_samples()["hello"], unique_repo, "v1")

    async def anonymous() -> list[str]:
        async with RegistryClient(registry_token.url, credentials=Credentials()) as client:
            return await client.list_tags(unique_repo)

    assert run(anonymous()) == ["v1"]  # anonymous pull token

    async def catalog() -> list[str]:
        async with RegistryClient(registry_token.url, credentials=Credentials()) as client:
            return await client.catalog()

    with pytest.raises(UnauthorizedError):
        run(catalog())


def test_wrong_token_password_is_unauthorized(registry_token: Any) -> None:
    async def work() -> None:
        async with RegistryClient(registry_token.url, credentials=Credentials(registry_token.username, "nope")) as client:
            await client.catalog()

    with pytest.raises(UnauthorizedError, match="refused the credentials"):
        run(work())


def test_refresh_token_is_used_for_new_scopes(registry_token: Any, token_issuer: Any, unique_repo: str) -> None:
    from harness.images import push, sample_images as build_samples

    push(registry_token, build_samples()["hello"], unique_repo, "v1")
    token_issuer.clear()

    async def work() -> None:
        async with RegistryClient(registry_token.url, credentials=Credentials(registry_token.username, registry_token.password)) as client:
            await client.catalog()
            await client.list_tags(unique_repo)

    run(work())
    grants = [r.grant_type for r in token_issuer.requests if r.status == 200]
    assert grants[0] in (None, "", "password") and "refresh_token" in grants[1:], grants
