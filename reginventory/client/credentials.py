"""Where credentials come from: arguments, the environment, or docker's ``config.json``.

Lookup order for a registry host: explicit username/password; the environment
(``REGINVENTORY_USERNAME`` / ``REGINVENTORY_PASSWORD``); then the docker config
(``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``, or ``REGISTRY_AUTH_FILE``):
``credHelpers[host]``, then ``auths[host]`` (``auth`` = base64 user:password, or
``identitytoken`` used as an OAuth2 refresh token), then ``credsStore``. Helpers are the
``docker-credential-<name>`` programs, asked with ``get`` and the server URL on stdin.
Secrets are held in :class:`Credentials`, whose ``repr`` never shows them.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from reginventory.client.reference import DOCKER_HUB, DOCKER_HUB_API
from reginventory.errors import ConfigError

ENV_USERNAME = "REGINVENTORY_USERNAME"
ENV_PASSWORD = "REGINVENTORY_PASSWORD"
DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/"
#: docker-credential-* helpers answer quickly or not at all.
HELPER_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Credentials:
    """A username and password, or an identity (refresh) token. Never printed."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    identity_token: str | None = field(default=None, repr=False)

    @property
    def anonymous(self) -> bool:
        return not (self.username or self.password or self.identity_token)

    def __repr__(self) -> str:
        secret = "***" if (self.password or self.identity_token) else None
        return f"Credentials(username={self.username!r}, secret={secret!r})"


ANONYMOUS = Credentials()


def docker_config_path() -> Path:
    """The docker config file: ``REGISTRY_AUTH_FILE``, ``$DOCKER_CONFIG/config.json``, or ~/.docker."""
    if os.environ.get("REGISTRY_AUTH_FILE"):
        return Path(os.environ["REGISTRY_AUTH_FILE"])
    base = os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    return Path(base) / "config.json"


def load_docker_config(path: Path | None = None) -> Mapping[str, Any]:
    """The parsed docker config, or an empty mapping when there is none."""
    path = path or docker_config_path()
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read docker config: {exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{path}: line {getattr(exc, 'lineno', '?')}: invalid JSON in docker config") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: docker config is not a JSON object")
    return data


def _config_keys(host: str) -> list[str]:
    """The keys a docker config may use for a host, most specific first."""
    keys = [host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/"]
    if host in (DOCKER_HUB, DOCKER_HUB_API, "index.docker.io"):
        keys = [DOCKER_HUB_CONFIG_KEY, DOCKER_HUB, "index.docker.io", DOCKER_HUB_API, *keys]
    return keys


def run_credential_helper(helper: str, server: str) -> Credentials:
    """Ask ``docker-credential-<helper> get`` for a server's credentials."""
    program = f"docker-credential-{helper}"
    try:
        result = subprocess.run(
            [program, "get"], input=server.encode(), capture_output=True, timeout=HELPER_TIMEOUT_SECONDS, check=False
        )
    except FileNotFoundError:
        raise ConfigError(f"credential helper {program} is not installed (named in {docker_config_path()})") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"credential helper {program} did not answer in {HELPER_TIMEOUT_SECONDS} s") from None
    if result.returncode != 0:
        message = result.stdout.decode(errors="replace").strip()
        if "credentials not found" in message.lower():
            return ANONYMOUS
        raise ConfigError(f"credential helper {program} failed for {server}: {message[:200]}")
    try:
        data = json.loads(result.stdout)
    except ValueError:
        raise ConfigError(f"credential helper {program} answered something that is not JSON") from None
    username, secret = data.get("Username"), data.get("Secret")
    if username == "<token>":
        return Credentials(identity_token=secret)
    return Credentials(username=username, password=secret)


def _from_auths_entry(entry: Mapping[str, Any], host: str) -> Credentials:
    if entry.get("identitytoken"):
        return Credentials(username=entry.get("username"), identity_token=entry["identitytoken"])
    if entry.get("auth"):
        try:
            decoded = base64.b64decode(entry["auth"]).decode()
        except (ValueError, UnicodeDecodeError):
            raise ConfigError(f"{docker_config_path()}: auths[{host!r}].auth is not base64 of user:password") from None
        username, _, password = decoded.partition(":")
        return Credentials(username=username, password=password)
    if entry.get("username"):
        return Credentials(username=entry["username"], password=entry.get("password"))
    return ANONYMOUS


def credentials_from_docker_config(host: str, config: Mapping[str, Any] | None = None) -> Credentials:
    """Credentials for a registry host from the docker config (helpers, auths, credsStore)."""
    config = load_docker_config() if config is None else config
    keys = _config_keys(host)
    helpers = config.get("credHelpers") or {}
    for key in keys:
        if key in helpers:
            return run_credential_helper(helpers[key], key)
    auths = config.get("auths") or {}
    for key in keys:
        if key in auths and isinstance(auths[key], dict):
            found = _from_auths_entry(auths[key], key)
            if not found.anonymous:
                return found
    if config.get("credsStore"):
        return run_credential_helper(config["credsStore"], keys[0])
    return ANONYMOUS


def resolve_credentials(
    host: str,
    username: str | None = None,
    password: str | None = None,
    *,
    use_docker_config: bool = True,
    use_environment: bool = True,
) -> Credentials:
    """The credentials for a host, by the documented lookup order."""
    if username or password:
        return Credentials(username=username, password=password)
    if use_environment and os.environ.get(ENV_USERNAME):
        return Credentials(username=os.environ[ENV_USERNAME], password=os.environ.get(ENV_PASSWORD))
    if use_docker_config:
        return credentials_from_docker_config(host)
    return ANONYMOUS
