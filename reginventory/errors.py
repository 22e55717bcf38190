"""Every exception reginventory raises, in one shallow tree.

::

    RegInventoryError                 root: catch this to catch everything
    ├── InvalidReferenceError         a reference, repository or tag that does not parse
    ├── IllegalArgumentError          arguments that contradict each other (the seed's name)
    ├── ConfigError                   a bad config, policy or credentials file (names file and line)
    ├── SnapshotError                 no snapshot, a corrupt Parquet file, a bad query parameter
    ├── PlanError                     a plan that fails its checksum, is too old, or cannot run
    └── RegistryError                 anything the registry said or failed to say
        ├── RegistryUnavailableError  connection refused, timeouts, 5xx after retries
        ├── UnauthorizedError         401: no or wrong credentials
        ├── ForbiddenError            403, or a token without the asked scope
        ├── NotFoundError             404: repository, manifest, tag or blob unknown
        ├── UnsupportedError          405 / UNSUPPORTED, e.g. deletes disabled
        ├── RateLimitedError          429 after retries; ``retry_after`` in seconds
        ├── DigestMismatchError       content whose sha256 is not the digest it was asked by
        ├── ManifestError             a manifest that is not JSON, too large, or of unknown type
        ├── PlatformNotFoundError     no entry of an index matches the asked platform
        └── InsecureRequestError      a password about to travel over plain HTTP

Registry errors carry ``registry``, ``repository`` and ``reference`` (any may be None), the HTTP
``status`` and the registry's own error ``codes`` (``MANIFEST_UNKNOWN``...). Messages never
contain credentials: URLs are redacted before they are put in a message.
"""

from __future__ import annotations

from typing import Sequence


class RegInventoryError(Exception):
    """Root of every reginventory exception."""


class InvalidReferenceError(RegInventoryError, ValueError):
    """A reference, repository name or tag that does not parse."""


class IllegalArgumentError(RegInventoryError, ValueError):
    """Arguments that contradict each other or name nothing to do."""


class ConfigError(RegInventoryError):
    """A bad configuration, policy or credentials file; the message names file and line."""


class SnapshotError(RegInventoryError):
    """A snapshot folder that is empty, corrupt, or asked a query it cannot answer."""


class PlanError(RegInventoryError):
    """A plan that cannot be trusted or cannot be applied."""


class RegistryError(RegInventoryError):
    """Something the registry answered, or failed to answer."""

    def __init__(
        self,
        message: str,
        *,
        registry: str | None = None,
        repository: str | None = None,
        reference: str | None = None,
        status: int | None = None,
        codes: Sequence[str] = (),
        detail: str | None = None,
    ) -> None:
        self.registry = registry
        self.repository = repository
        self.reference = reference
        self.status = status
        self.codes = tuple(codes)
        self.detail = detail
        self.message = message
        super().__init__(self._render())

    def _render(self) -> str:
        where = self.registry or ""
        if self.repository:
            where = f"{where}/{self.repository}" if where else self.repository
        if self.reference:
            sep = "@" if self.reference.startswith("sha256:") else ":"
            where = f"{where}{sep}{self.reference}"
        text = f"{where}: {self.message}" if where else self.message
        extra = []
        if self.status is not None:
            extra.append(f"HTTP {self.status}")
        if self.codes:
            extra.append(", ".join(self.codes))
        if extra:
            text += f" ({'; '.join(extra)})"
        return text


class RegistryUnavailableError(RegistryError):
    """The registry could not be reached or kept failing (connection, timeout, 5xx)."""


class UnauthorizedError(RegistryError):
    """The registry wants credentials, or refused the ones given (401)."""


class ForbiddenError(RegistryError):
    """The credentials are valid but lack the permission (403 or a narrower token)."""


class NotFoundError(RegistryError):
    """The repository, manifest, tag or blob does not exist (404)."""


class UnsupportedError(RegistryError):
    """The registry refuses the operation (405, UNSUPPORTED), e.g. deletes are disabled."""


class RateLimitedError(RegistryError):
    """Still rate limited (429) after the retries; ``retry_after`` is the server's hint."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class DigestMismatchError(RegistryError):
    """Content whose digest is not the one it was requested or announced by."""


class ManifestError(RegistryError):
    """A manifest that is not JSON, is too large, or has an unknown media type."""


class PlatformNotFoundError(RegistryError):
    """No manifest of an index matches the requested platform; ``available`` lists them."""

    def __init__(self, message: str, *, available: Sequence[str] = (), **kwargs: object) -> None:
        self.available = tuple(available)
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class InsecureRequestError(RegistryError):
    """Credentials would be sent over plain HTTP to a host that is not loopback."""
