"""Shared fixtures: real distribution registries, a token issuer and the sample image set.

Session-scoped registries are shared by all tests: push only into ``unique_repo``
names there and never delete or garbage-collect; use ``fresh_registry`` for that.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any, Callable, Generator, Iterator

import pytest

# Crawls build the derived-table cache after their commit by default; that is tested in
# tests/analysis/test_derived.py (which clears this), elsewhere it would only slow the suite.
os.environ.setdefault("REGINVENTORY_DERIVED_CACHE", "0")

# Make ``import harness`` work whatever pytest's import mode is.
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

from harness.binaries import binary_policy, in_ci, missing_binaries  # noqa: E402
from harness.images import SampleSet, sample_set  # noqa: E402
from harness.names import unique_repository  # noqa: E402
from harness.registry import RegistryServer, all_servers  # noqa: E402
from harness.token_issuer import TokenIssuer  # noqa: E402

#: Fixtures that need the docker-registry and skopeo binaries.
REGISTRY_FIXTURES = frozenset(
    {
        "registry",
        "registry_basic",
        "registry_tls",
        "registry_token",
        "registry_dest",
        "sample_images",
        "fresh_registry",
    }
)
TOKEN_USERS = {"alice": "alice-secret", "bob": "bob-secret"}

_LOG_OFFSETS = pytest.StashKey[dict[int, int]]()


def _require_binaries(extra: tuple[str, ...] = ()) -> None:
    """Skip (or, under CI=true, fail) when a needed binary is missing."""
    missing = missing_binaries() + [b for b in extra if shutil.which(b) is None]
    action, msg = binary_policy(missing, in_ci())
    if action == "fail":
        pytest.fail(msg, pytrace=False)
    if action == "skip":
        pytest.skip(msg)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: slow test (benchmarks, large images); deselect with -m 'not slow'")
    config.addinivalue_line(
        "markers", "needs_registry: needs the docker-registry and skopeo binaries (skipped without them unless CI=true)"
    )


def pytest_report_header(config: pytest.Config) -> str:
    missing = missing_binaries()
    state = "all present" if not missing else f"MISSING {', '.join(missing)}"
    return f"registry harness: docker-registry/skopeo {state}; CI={os.environ.get('CI', '')!r}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip registry tests up front when binaries are missing (never under CI=true)."""
    missing = missing_binaries()
    if not missing or in_ci():
        return
    skip = pytest.mark.skip(reason=binary_policy(missing, False)[1])
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & REGISTRY_FIXTURES or item.get_closest_marker("needs_registry"):
            item.add_marker(skip)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Remember each registry log's size so a failure shows only this test's lines."""
    item.stash[_LOG_OFFSETS] = {id(s): s.log_size() for s in all_servers()}
    if item.get_closest_marker("needs_registry"):
        _require_binaries()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[Any]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On failure, attach the tail of every registry log written during the test."""
    report = yield
    if report.failed:
        offsets = item.stash.get(_LOG_OFFSETS, {})
        for server in all_servers():
            tail = server.log_tail(40, since=offsets.get(id(server), 0))
            if tail.strip():
                report.sections.append((f"registry log: {server.name} {server.url} ({server.log_path})", tail))
    return report


# --------------------------------------------------------------------------- registries


def _server(tmp_path_factory: pytest.TempPathFactory, kind: str, name: str, **kw: Any) -> RegistryServer:
    return RegistryServer(kind, directory=tmp_path_factory.mktemp(name), name=name, **kw)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """Anonymous HTTP registry shared by the session (deletes enabled; do not GC it)."""
    _require_binaries()
    with _server(tmp_path_factory, "anonymous", "registry") as srv:
        yield srv


@pytest.fixture(scope="session")
def registry_dest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A second anonymous registry, e.g. as a copy destination."""
    _require_binaries()
    with _server(tmp_path_factory, "anonymous", "registry-dest") as srv:
        yield srv


@pytest.fixture(scope="session")
def registry_basic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """htpasswd registry; credentials in ``.username``/``.password``."""
    _require_binaries(("htpasswd",))
    with _server(tmp_path_factory, "basic", "registry-basic") as srv:
        yield srv


@pytest.fixture(scope="session")
def registry_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """HTTPS registry with a harness CA (``.ca_path``, ``.cert_dir``, ``.client_cert``)."""
    _require_binaries()
    with _server(tmp_path_factory, "tls", "registry-tls") as srv:
        yield srv


@pytest.fixture(scope="session")
def token_issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenIssuer]:
    """Token server with users alice/alice-secret and bob/bob-secret and the default ACL."""
    with TokenIssuer(tmp_path_factory.mktemp("token-issuer"), users=dict(TOKEN_USERS)) as issuer:
        yield issuer


@pytest.fixture(scope="session")
def registry_token(tmp_path_factory: pytest.TempPathFactory, token_issuer: TokenIssuer) -> Iterator[RegistryServer]:
    """Registry with ``auth: token`` trusting ``token_issuer``; ``.username`` is alice."""
    _require_binaries()
    with _server(tmp_path_factory, "token", "registry-token", token_issuer=token_issuer, username="alice") as srv:
        yield srv


@pytest.fixture(scope="session")
def sample_images(registry: RegistryServer) -> SampleSet:
    """The standard sample set (see ``harness.images.sample_set``), pushed once into ``registry``."""
    return sample_set(registry)


@pytest.fixture
def fresh_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RegistryServer]]:
    """Factory for isolated registries, stopped after the test: ``fresh_registry(kind="anonymous", **options)``.

    Options are ``RegistryServer`` keywords (``delete_enabled``, ``extra_config``,
    ``require_client_cert``...). For ``kind="token"`` without ``token_issuer``, a
    private issuer is made from ``users``/``acl``/``expires_in``/``key_id_mode``.
    """
    _require_binaries()
    started: list[RegistryServer] = []
    issuers: list[TokenIssuer] = []

    def factory(kind: str = "anonymous", **options: Any) -> RegistryServer:
        if kind == "basic":
            _require_binaries(("htpasswd",))
        if kind == "token" and options.get("token_issuer") is None:
            issuer_kw = {k: options.pop(k) for k in ("users", "acl", "expires_in", "key_id_mode") if k in options}
            issuer_kw.setdefault("users", dict(TOKEN_USERS))
            issuer = TokenIssuer(tmp_path_factory.mktemp("fresh-issuer"), **issuer_kw).start()
            issuers.append(issuer)
            options["token_issuer"] = issuer
        srv = _server(tmp_path_factory, kind, f"fresh-{kind}-{len(started) + 1}", **options)
        started.append(srv)
        return srv.start()

    yield factory
    for srv in started:
        srv.close()
    for issuer in issuers:
        issuer.stop()


@pytest.fixture
def unique_repo(request: pytest.FixtureRequest) -> str:
    """A repository name unique in the session, e.g. ``test/test-push-works-7``."""
    return unique_repository(request.node.name)


@pytest.fixture
def make_repo(request: pytest.FixtureRequest) -> Callable[[], str]:
    """Factory for more unique repository names in one test."""
    return lambda: unique_repository(request.node.name)


@pytest.fixture
def s3_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A snapshot URL on moto's S3 server on loopback, in a bucket of its own.

    moto keeps its state per process, so every test gets a fresh bucket name.
    """
    boto3 = pytest.importorskip("boto3")
    server_module = pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        bucket = f"inventory-{uuid.uuid4().hex[:12]}"
        boto3.client("s3", endpoint_url=f"http://{host}:{port}").create_bucket(Bucket=bucket)
        yield f"s3://{bucket}/snapshots?endpoint_override={host}:{port}&scheme=http&region=us-east-1"
    finally:
        server.stop()
