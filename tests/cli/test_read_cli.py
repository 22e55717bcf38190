"""The read commands against the real registry: output, credentials from stdin, clean errors."""

from __future__ import annotations

import json
from typing import Any

import pytest


def test_ls_tags_digest(cli: Any, registry: Any, sample_images: Any) -> None:
    result = cli("ls", registry.host)
    assert result.exit_code == 0
    assert set(sample_images.repositories) <= set(result.stdout.split())
    tags = cli("tags", f"{registry.host}/team-a/app").stdout.split()
    assert set(sample_images.tag_names("team-a/app")) <= set(tags)
    digest = cli("digest", f"http://{registry.host}/team-a/app:stable").stdout.strip()
    assert digest == sample_images.get("team-a/app", "stable").digest


def test_size_and_inspect_index(cli: Any, registry: Any, sample_images: Any) -> None:
    multi = sample_images.roles["multi"]
    arm = next(c for c in multi.children if c.platform and c.platform.architecture == "arm64")
    size = cli("size", f"{registry.host}/team-a/multi:latest", "--platform", "linux/arm64/v8").stdout.strip()
    assert int(size) == arm.image_size
    data = json.loads(cli("inspect", f"{registry.host}/team-a/multi:latest").stdout)
    assert data["kind"] == "index" and data["digest"] == multi.digest
    assert [c["platform"] for c in data["manifests"] if c["kind"] == "image"] == list(multi.platforms)
    assert sum(c["kind"] == "attestation" for c in data["manifests"]) == 2


def test_inspect_image_shows_labels_verbatim(cli: Any, registry: Any, sample_images: Any) -> None:
    item = sample_images.get("team-a/app", "2.0.0-rc1")
    data = json.loads(cli("inspect", f"{registry.host}/team-a/app:2.0.0-rc1").stdout)
    assert data["labels"] == dict(item.labels)
    assert data["size"] == item.image_size and data["layers"][0]["digest"] == item.layer_digests[0]


def test_password_from_stdin(cli: Any, registry_basic: Any) -> None:
    ok = cli("ls", registry_basic.host, "--username", registry_basic.username, "--password-stdin", "--no-docker-config",
             input=registry_basic.password + "\n")
    assert ok.exit_code == 0
    bad = cli("ls", registry_basic.host, "--username", registry_basic.username, "--password-stdin", "--no-docker-config",
              input="wrong\n")
    assert bad.exit_code == 1
    assert "unauthorized" in bad.stderr and "wrong" not in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("digest", "127.0.0.1:1/x:v1"), "cannot reach"),
        (("digest", "Not A Reference"), "invalid reference"),
        (("size", "127.0.0.1:1/x", "--platform", "linux"), "invalid platform"),
        (("ls", "http://host/with/path"), "invalid registry"),
    ],
)
def test_errors_are_one_line(cli: Any, args: tuple[str, ...], fragment: str) -> None:
    result = cli(*args)
    assert result.exit_code == 1
    assert fragment in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_missing_tag_names_the_reference(cli: Any, registry: Any, sample_images: Any) -> None:
    result = cli("digest", f"{registry.host}/team-a/app:nope")
    assert result.exit_code == 1
    assert f"{registry.host}/team-a/app:nope" in result.stderr and "not found" in result.stderr
