"""What to crawl and how: one :class:`CrawlTarget` per registry, :class:`CrawlOptions` per run,
and the TOML file that describes several registries.

The TOML file never holds a secret: it names environment variables (``username_env``,
``password_env``) or asks for the docker config (``docker_config = true``)::

    out = "s3://inventory/snapshots"        # optional: the default of --out

    [[registries]]
    url = "https://reg.example.com"
    username_env = "REG_USER"
    password_env = "REG_PASSWORD"
    repo = "^team-"                          # regular expression, searched in the name
    namespaces = ["team-a", "team-b"]        # first path components
    max_in_flight = 16
    rate = 200                               # requests per second
    ca_bundle = "/etc/ssl/private-ca.pem"

    [[registries]]
    url = "https://registry-1.docker.io"
    docker_config = true
    repositories = ["library/alpine", "library/busybox"]   # no _catalog on Docker Hub
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from reginventory.client.reference import DOCKER_HUB, DOCKER_HUB_API, validate_repository
from reginventory.client.registry_client import RegistryClient
from reginventory.client.transport import DEFAULT_MAX_IN_FLIGHT, RetryPolicy, TLSOptions, resolve_base_url
from reginventory.errors import ConfigError, IllegalArgumentError, InvalidReferenceError
from reginventory.inventory.shard import UNSHARDED, format_shard

#: Crawl modes: ``auto`` is incremental when the store already holds a snapshot of the registry.
MODES = ("auto", "full", "incremental")
#: ``auto`` asks the OCI referrers API where the registry has it (one probe decides); ``never`` skips it.
REFERRERS_MODES = ("auto", "never")
#: The crawler's retry policy: the client default, a little more patient, since a crawl is long.
CRAWL_RETRY = RetryPolicy(attempts=6, base_seconds=0.25, max_wait_seconds=8.0)
#: A registry that refuses connections for this long (a restart, a failover) fails the crawl;
#: shorter outages are waited out.
RECONNECT_SECONDS = 60.0
#: Finished repositories are written to the staging area at least this often (and after this
#: many buffered rows): what ``--resume`` keeps after a crash, and what bounds memory.
CHECKPOINT_SECONDS = 5.0
CHECKPOINT_ROWS = 20_000

_TARGET_KEYS = frozenset(
    {
        "url", "username_env", "password_env", "docker_config", "repo", "namespaces", "repositories",
        "max_in_flight", "rate", "ca_bundle", "no_verify", "cert", "plain_http", "allow_insecure",
    }
)
_TOP_KEYS = frozenset({"out", "registries"})


@dataclass(frozen=True)
class CrawlTarget:
    """One registry to crawl: where, with which credentials and limits, which repositories.

    ``repositories`` is an explicit list, for registries without ``_catalog`` (Docker Hub);
    otherwise the catalog is read and filtered by ``repo`` (a regular expression searched in
    the name) and ``namespaces`` (first path components). Both filters apply to the explicit
    list too.
    """

    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    use_docker_config: bool = True
    plain_http: bool = False
    allow_insecure: bool = False
    tls: TLSOptions = TLSOptions()
    repo: str | None = None
    namespaces: tuple[str, ...] = ()
    repositories: tuple[str, ...] = ()
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    rate: float | None = None

    def __post_init__(self) -> None:
        try:
            resolve_base_url(self.url, plain_http=self.plain_http)
        except InvalidReferenceError as exc:
            raise IllegalArgumentError(str(exc)) from None
        if self.repo is not None:
            try:
                re.compile(self.repo)
            except re.error as exc:
                raise IllegalArgumentError(f"invalid --repo regular expression {self.repo!r}: {exc}") from None
        for name in self.repositories:
            validate_repository(name)
        if self.max_in_flight < 1:
            raise IllegalArgumentError("max_in_flight must be at least 1")
        if self.rate is not None and self.rate <= 0:
            raise IllegalArgumentError("rate must be positive")

    @property
    def registry(self) -> str:
        """The registry as the ``registry`` column names it: the host (``127.0.0.1:5000``)."""
        return resolve_base_url(self.url, plain_http=self.plain_http)[1]

    def selects(self, repository: str) -> bool:
        """True when the repository passes the ``repo`` and ``namespaces`` filters."""
        if self.namespaces and not any(
            repository == ns.strip("/") or repository.startswith(ns.strip("/") + "/") for ns in self.namespaces
        ):
            return False
        return self.repo is None or re.search(self.repo, repository) is not None

    @property
    def is_docker_hub(self) -> bool:
        return self.registry in (DOCKER_HUB, "index.docker.io", DOCKER_HUB_API)

    def repository_names(self) -> tuple[str, ...]:
        """The explicit list; on Docker Hub a one-component name is an official image (library/)."""
        if not self.is_docker_hub:
            return self.repositories
        return tuple(name if "/" in name else f"library/{name}" for name in self.repositories)

    def client(self, retry: RetryPolicy = CRAWL_RETRY) -> RegistryClient:
        """The one client of this registry for a crawl (its limits are the target's)."""
        url = self.url
        if self.is_docker_hub:
            url = f"https://{DOCKER_HUB_API}"  # docker.io names the registry; this host serves it
        return RegistryClient(
            url, username=self.username, password=self.password, use_docker_config=self.use_docker_config,
            tls=self.tls, plain_http=self.plain_http, allow_insecure=self.allow_insecure,
            max_in_flight=self.max_in_flight, rate=self.rate, retry=retry,
        )

    def describe(self) -> dict[str, Any]:
        """The target without secrets, for the ``crawls.options`` column."""
        return {
            "url": self.url,
            "username": self.username,
            "repo": self.repo,
            "namespaces": list(self.namespaces),
            "repositories": len(self.repositories) or None,
            "max_in_flight": self.max_in_flight,
            "rate": self.rate,
            "no_verify": self.tls.no_verify,
        }


#: Values of a target that :func:`override_target` changes in its TLS options.
_TLS_KEYS = ("no_verify", "ca_bundle", "cert")


def override_target(target: CrawlTarget, **values: Any) -> CrawlTarget:
    """``target`` with every value that is not None replaced (command-line flags over a config
    file). ``no_verify``, ``ca_bundle`` and ``cert`` change its TLS options; a ``username``
    brings its ``password`` along (None included), so credentials never mix."""
    given = {key: value for key, value in values.items() if value is not None}
    if "username" in given:
        given["password"] = values.get("password")
    elif "password" in given:
        raise IllegalArgumentError("a password needs its username")
    tls = {key: given.pop(key) for key in _TLS_KEYS if key in given}
    if tls:
        given["tls"] = replace(target.tls, **tls)
    return replace(target, **given)


@dataclass(frozen=True)
class CrawlOptions:
    """How to crawl (the same for every registry of a run)."""

    mode: str = "auto"
    resume: bool = False
    crawl_id: str | None = None
    shard: tuple[int, int] = UNSHARDED
    referrers: str = "auto"
    checkpoint_seconds: float = CHECKPOINT_SECONDS
    checkpoint_rows: int = CHECKPOINT_ROWS
    reconnect_seconds: float = RECONNECT_SECONDS
    #: Tags resolved at once per registry; default 2 x max_in_flight keeps the client busy.
    tag_concurrency: int | None = None
    #: Repositories crawled at once per registry; default max_in_flight.
    repository_concurrency: int | None = None
    #: Build the derived-table cache of a committed crawl (reginventory.analysis.derived).
    derived: bool = True

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise IllegalArgumentError(f"invalid mode {self.mode!r}: one of {', '.join(MODES)}")
        if self.referrers not in REFERRERS_MODES:
            raise IllegalArgumentError(f"invalid referrers mode {self.referrers!r}: one of {', '.join(REFERRERS_MODES)}")
        if self.shard != UNSHARDED and not self.crawl_id:
            raise IllegalArgumentError("a sharded crawl needs --crawl-id, shared by all its shards")
        if self.crawl_id is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", self.crawl_id):
            raise IllegalArgumentError(f"invalid crawl id {self.crawl_id!r}: letters, digits, . _ - (at most 128)")

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, "shard": format_shard(self.shard), "referrers": self.referrers}


def options_json(target: CrawlTarget, options: CrawlOptions, **extra: Any) -> str:
    """The ``crawls.options`` value: target and options, never a secret."""
    return json.dumps({**target.describe(), **options.describe(), **extra}, sort_keys=True)


@dataclass(frozen=True)
class CrawlConfig:
    """A parsed TOML crawl configuration."""

    targets: tuple[CrawlTarget, ...]
    out: str | None = None


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> CrawlConfig:
    """Read a TOML crawl configuration; ConfigError names the file and the offending key."""
    path = Path(path)
    environ = os.environ if environ is None else environ
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such crawl configuration file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    for key in data:
        if key not in _TOP_KEYS:
            raise ConfigError(f"{path}: unknown key {key!r} (known: {', '.join(sorted(_TOP_KEYS))})")
    out = data.get("out")
    if out is not None and not isinstance(out, str):
        raise ConfigError(f"{path}: 'out' must be a string")
    entries = data.get("registries")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: needs at least one [[registries]] table")
    targets = tuple(_target(path, i, entry, environ) for i, entry in enumerate(entries))
    return CrawlConfig(targets=targets, out=out)


def _target(path: Path, index: int, entry: Any, environ: Mapping[str, str]) -> CrawlTarget:
    where = f"{path}: registries[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: must be a table")
    for key in entry:
        if key in ("username", "password", "token"):
            raise ConfigError(
                f"{where}: key {key!r}: credentials are never stored in the config; "
                "use username_env/password_env or docker_config"
            )
        if key not in _TARGET_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(_TARGET_KEYS))})")
    if not isinstance(entry.get("url"), str):
        raise ConfigError(f"{where}: 'url' (a string) is required")

    def typed(key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        value = entry.get(key, default)
        if value is not None and not isinstance(value, kind):
            raise ConfigError(f"{where}: key {key!r} has the wrong type ({type(value).__name__})")
        return value

    def from_env(key: str) -> str | None:
        name = typed(key, str)
        if name is None:
            return None
        if name not in environ:
            raise ConfigError(f"{where}: key {key!r} names the environment variable {name}, which is not set")
        return environ[name]

    def strings(key: str) -> tuple[str, ...]:
        value = typed(key, list, [])
        if not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: key {key!r} must be a list of strings")
        return tuple(value)

    rate = typed("rate", (int, float))
    try:
        return CrawlTarget(
            url=entry["url"],
            username=from_env("username_env"),
            password=from_env("password_env"),
            use_docker_config=typed("docker_config", bool, True),
            plain_http=typed("plain_http", bool, False),
            allow_insecure=typed("allow_insecure", bool, False),
            tls=TLSOptions(
                no_verify=typed("no_verify", bool, False), ca_bundle=typed("ca_bundle", str), cert=typed("cert", str)
            ),
            repo=typed("repo", str),
            namespaces=strings("namespaces"),
            repositories=strings("repositories"),
            max_in_flight=typed("max_in_flight", int, DEFAULT_MAX_IN_FLIGHT),
            rate=float(rate) if rate is not None else None,
        )
    except (IllegalArgumentError, InvalidReferenceError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
