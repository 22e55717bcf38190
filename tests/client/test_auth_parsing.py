"""Challenges, scopes, loopback and credentials: the pure parts of auth."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import httpx
import pytest

from reginventory.client.auth import is_loopback, merge_scopes, parse_challenge, scopes_for
from reginventory.client.credentials import Credentials, credentials_from_docker_config, resolve_credentials
from reginventory.errors import ConfigError


def test_parse_bearer_challenge() -> None:
    c = parse_challenge('Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push"')
    assert c is not None and c.scheme == "bearer"
    assert (c.realm, c.service, c.scopes) == ("https://auth.example/token", "reg", ["repository:a/b:pull,push"])
    insufficient = parse_challenge('Bearer realm="r",error="insufficient_scope",scope="repository:x:delete"')
    assert insufficient is not None and insufficient.params["error"] == "insufficient_scope"
    assert parse_challenge('Basic realm="Registry Realm"').scheme == "basic"  # type: ignore[union-attr]
    assert parse_challenge(None) is None


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/v2/_catalog?n=10", "registry:catalog:*"),
        ("GET", "/v2/team/app/manifests/v1", "repository:team/app:pull"),
        ("HEAD", "/v2/a/blobs/sha256:00", "repository:a:pull"),
        ("PUT", "/v2/a/b/manifests/v1", "repository:a/b:pull,push"),
        ("POST", "/v2/a/blobs/uploads/", "repository:a:pull,push"),
        ("DELETE", "/v2/a/manifests/sha256:00", "repository:a:delete"),
        ("GET", "/v2/x/tags/list", "repository:x:pull"),
        ("GET", "/v2/manifests/blobs/tags/list", "repository:manifests/blobs:pull"),
    ],
)
def test_scopes_from_requests(method: str, path: str, scope: str) -> None:
    assert scopes_for(httpx.Request(method, "http://h" + path)) == [scope]


def test_merge_scopes() -> None:
    assert merge_scopes(["repository:a:pull", "repository:a:push", "repository:b:pull"]) == (
        "repository:a:pull,push", "repository:b:pull",
    )


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1:5000", True), ("127.9.9.9", True), ("localhost:1", True), ("[::1]:5000", True),
     ("10.0.0.1:5000", False), ("reg.example.com", False)],
)
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_credentials_never_print_secrets() -> None:
    text = repr(Credentials("bob", "hunter2", "tok"))
    assert "hunter2" not in text and "tok'" not in text and "bob" in text


def write_config(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    return path


def test_docker_config_auths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    auth = base64.b64encode(b"alice:s3cret").decode()
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    write_config(tmp_path, {"auths": {"reg.example.com": {"auth": auth}, "https://index.docker.io/v1/": {"identitytoken": "tok"}}})
    found = credentials_from_docker_config("reg.example.com")
    assert (found.username, found.password) == ("alice", "s3cret")
    assert credentials_from_docker_config("registry-1.docker.io").identity_token == "tok"
    assert credentials_from_docker_config("other.example.com").anonymous


def test_credential_helper_program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    helper = tmp_path / "docker-credential-fake"
    helper.write_text('#!/bin/sh\nread server\necho "{\\"Username\\": \\"helper-user\\", \\"Secret\\": \\"from-$server\\"}"\n')
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    write_config(tmp_path, {"credHelpers": {"ghcr.io": "fake"}, "credsStore": "fake"})
    found = credentials_from_docker_config("ghcr.io")
    assert (found.username, found.password) == ("helper-user", "from-ghcr.io")
    assert credentials_from_docker_config("quay.io").password == "from-quay.io"  # credsStore


def test_missing_helper_and_bad_config_are_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    write_config(tmp_path, {"credHelpers": {"ghcr.io": "absent-helper"}})
    with pytest.raises(ConfigError, match="docker-credential-absent-helper is not installed"):
        credentials_from_docker_config("ghcr.io")
    (tmp_path / "config.json").write_text("{\n  broken")
    with pytest.raises(ConfigError, match=r"config.json: line 2"):
        credentials_from_docker_config("ghcr.io")


def test_resolution_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.setenv("REGINVENTORY_USERNAME", "env-user")
    monkeypatch.setenv("REGINVENTORY_PASSWORD", "env-pass")
    assert resolve_credentials("h", "arg-user", "arg-pass").username == "arg-user"
    assert resolve_credentials("h").password == "env-pass"
    monkeypatch.delenv("REGINVENTORY_USERNAME")
    assert resolve_credentials("h").anonymous
