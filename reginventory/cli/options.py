"""Options every registry command shares: credentials, TLS, plain HTTP; and reference parsing.

Passwords never come from the command line: ``--username`` with ``--password-stdin``, or the
docker config, or ``REGINVENTORY_USERNAME``/``REGINVENTORY_PASSWORD``.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import sys
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Awaitable, Callable, Optional, TypeVar

import typer

from reginventory.client.credentials import resolve_credentials
from reginventory.client.reference import DOCKER_HUB, Reference, parse_reference, split_scheme
from reginventory.client.registry_client import RegistryClient
from reginventory.client.registry_writer import RegistryWriter
from reginventory.client.transport import TLSOptions

Username = Annotated[Optional[str], typer.Option("--username", "-u", help="Registry user name.", rich_help_panel="Connection")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.", rich_help_panel="Connection")
]
PlainHttp = Annotated[
    bool, typer.Option("--plain-http", help="Use HTTP for a registry that is not on loopback.", rich_help_panel="Connection")
]
AllowInsecure = Annotated[
    bool,
    typer.Option("--allow-insecure", help="Allow sending a password over plain HTTP to a non-loopback host.", rich_help_panel="Connection"),
]
NoVerify = Annotated[bool, typer.Option("--no-verify", help="Do not verify TLS certificates.", rich_help_panel="Connection")]
CaBundle = Annotated[Optional[str], typer.Option("--ca-bundle", help="Extra CA certificates (PEM file).", rich_help_panel="Connection")]
Cert = Annotated[
    Optional[str], typer.Option("--cert", help="Client certificate (PEM with its key) for mutual TLS.", rich_help_panel="Connection")
]
NoDockerConfig = Annotated[
    bool, typer.Option("--no-docker-config", help="Do not read ~/.docker/config.json.", rich_help_panel="Connection")
]


T = TypeVar("T")


@dataclass(frozen=True)
class Connection:
    """How to reach registries, from the shared options."""

    username: str | None = None
    password: str | None = None
    plain_http: bool = False
    allow_insecure: bool = False
    no_verify: bool = False
    ca_bundle: str | None = None
    cert: str | None = None
    use_docker_config: bool = True

    def __repr__(self) -> str:
        return f"Connection(username={self.username!r}, password={'***' if self.password else None})"

    def client(self, registry: str, *, max_in_flight: int = 16) -> RegistryClient:
        """An async client for one registry (host, or URL with scheme)."""
        scheme, host = split_scheme(registry)
        credentials = resolve_credentials(
            host, self.username, self.password, use_docker_config=self.use_docker_config
        )
        return RegistryClient(
            registry, credentials=credentials, plain_http=self.plain_http or scheme == "http",
            allow_insecure=self.allow_insecure, max_in_flight=max_in_flight,
            tls=TLSOptions(no_verify=self.no_verify, ca_bundle=self.ca_bundle, cert=self.cert),
        )

    def run(self, registry: str, action: Callable[[RegistryClient], Awaitable[T]]) -> T:
        """Run ``action(client)`` with a client of ``registry`` on a fresh event loop; its result."""

        async def main() -> T:
            async with self.client(registry) as client:
                return await action(client)

        return asyncio.run(main())

    def run_writer(self, registry: str, action: Callable[[RegistryWriter], Awaitable[T]]) -> T:
        """Run ``action(writer)`` with a :class:`RegistryWriter` of ``registry``; its result."""

        async def with_writer(client: RegistryClient) -> T:
            async with RegistryWriter(client) as writer:
                return await action(writer)

        return self.run(registry, with_writer)


def connection(
    username: str | None,
    password_stdin: bool,
    plain_http: bool = False,
    allow_insecure: bool = False,
    no_verify: bool = False,
    ca_bundle: str | None = None,
    cert: str | None = None,
    no_docker_config: bool = False,
) -> Connection:
    """Build a Connection; the password, if any, is read from stdin."""
    password = None
    if password_stdin:
        if not username:
            raise typer.BadParameter("--password-stdin needs --username")
        password = sys.stdin.readline().rstrip("\r\n")
    return Connection(username, password, plain_http, allow_insecure, no_verify, ca_bundle, cert, not no_docker_config)


def parse_ref(text: str) -> tuple[str, Reference]:
    """(registry as the client wants it, reference) from ``[http(s)://]host/repo[:tag][@digest]``."""
    scheme, rest = split_scheme(text)
    ref = parse_reference(rest)
    registry = ref.api_registry if ref.registry == DOCKER_HUB else ref.registry
    return (f"{scheme}://{registry}" if scheme else registry), ref


#: The shared options, in the order --help lists them, with their defaults.
_SHARED: dict[str, tuple[Any, Any]] = {
    "username": (Username, None),
    "password_stdin": (PasswordStdin, False),
    "plain_http": (PlainHttp, False),
    "allow_insecure": (AllowInsecure, False),
    "no_verify": (NoVerify, False),
    "ca_bundle": (CaBundle, None),
    "cert": (Cert, None),
    "no_docker_config": (NoDockerConfig, False),
}

F = TypeVar("F", bound=Callable[..., Any])


def with_connection(func: F) -> F:
    """Add the shared connection options to a command; it receives them as ``conn: Connection``."""
    signature = inspect.signature(func)
    # Resolve the command's own annotations in its module (they may be postponed strings),
    # so Typer still sees their help texts and option names through the wrapper.
    hints = {k: v for k, v in typing.get_type_hints(func, include_extras=True).items() if k not in ("conn", "return")}
    params = [
        p.replace(annotation=hints.get(name, p.annotation))
        for name, p in signature.parameters.items()
        if name != "conn"
    ]
    params += [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        for name, (annotation, default) in _SHARED.items()
    ]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in _SHARED}
        return func(*args, conn=connection(**values), **kwargs)

    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**hints, **{name: annotation for name, (annotation, _) in _SHARED.items()}}
    return wrapper  # type: ignore[return-value]
