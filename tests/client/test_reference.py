"""References parse as docker parses them."""

from __future__ import annotations

import pytest

from reginventory.client.reference import parse_reference, split_registry_url, split_scheme
from reginventory.errors import InvalidReferenceError

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("alpine", "docker.io", "library/alpine", "latest", None),
        ("alpine:3.19", "docker.io", "library/alpine", "3.19", None),
        ("user/app", "docker.io", "user/app", "latest", None),
        ("index.docker.io/user/app:v1", "docker.io", "user/app", "v1", None),
        ("localhost/app", "localhost", "app", "latest", None),
        ("localhost:5000/team/app:v1", "localhost:5000", "team/app", "v1", None),
        ("127.0.0.1:5000/a/b/c@" + DIGEST, "127.0.0.1:5000", "a/b/c", None, DIGEST),
        ("ghcr.io/org/img:v1@" + DIGEST, "ghcr.io", "org/img", "v1", DIGEST),
        ("[::1]:5000/app:x", "[::1]:5000", "app", "x", None),
        ("docker://quay.io/org/app", "quay.io", "org/app", "latest", None),
    ],
)
def test_parse_reference(text: str, registry: str, repository: str, tag: str | None, digest: str | None) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)


def test_docker_hub_maps_to_its_api_host() -> None:
    assert parse_reference("alpine").api_registry == "registry-1.docker.io"
    assert parse_reference("ghcr.io/a/b").api_registry == "ghcr.io"


def test_reference_prefers_digest() -> None:
    assert parse_reference("r.io/a:v1@" + DIGEST).reference == DIGEST
    assert str(parse_reference("r.io/a:v1@" + DIGEST)) == "r.io/a:v1@" + DIGEST


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("UPPER/case", "invalid repository name"),
        ("r.io/app:-bad", "invalid tag"),
        ("r.io/app@sha256:abc", "invalid digest"),
        ("r.io/app:" + "x" * 129, "invalid tag"),
        ("r.io/a//b", "invalid repository name"),
        (" alpine", "spaces"),
    ],
)
def test_bad_references_name_the_problem(text: str, fragment: str) -> None:
    with pytest.raises(InvalidReferenceError, match=fragment):
        parse_reference(text)


def test_split_scheme_and_registry_url() -> None:
    assert split_scheme("http://h:1/a") == ("http", "h:1/a")
    assert split_registry_url("https://reg.example.com/") == ("https", "reg.example.com")
    assert split_registry_url("127.0.0.1:5000") == (None, "127.0.0.1:5000")
    with pytest.raises(InvalidReferenceError, match="invalid registry"):
        split_registry_url("http://h/path")
