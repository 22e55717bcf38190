"""Digests: compute, check, and verify content against them. Pure: no I/O."""

from __future__ import annotations

import hashlib

from reginventory.client.reference import validate_digest
from reginventory.errors import DigestMismatchError


def sha256_digest(data: bytes) -> str:
    """The ``sha256:<hex>`` digest of some bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def hasher_for(digest: str) -> "hashlib._Hash":
    """A fresh hash object of the digest's algorithm (sha256 or sha512)."""
    algorithm = validate_digest(digest).split(":", 1)[0]
    if algorithm not in ("sha256", "sha512"):
        raise DigestMismatchError(f"unsupported digest algorithm {algorithm!r}")
    return hashlib.new(algorithm)


def compute_like(digest: str, data: bytes) -> str:
    """The digest of ``data`` with the same algorithm as ``digest``."""
    h = hasher_for(digest)
    h.update(data)
    return f"{digest.split(':', 1)[0]}:{h.hexdigest()}"


def verify_digest(data: bytes, digest: str, **context: object) -> None:
    """Raise DigestMismatchError when ``data`` does not hash to ``digest``."""
    actual = compute_like(digest, data)
    if actual != digest:
        raise DigestMismatchError(
            f"content does not match its digest: expected {digest}, got {actual}", **context  # type: ignore[arg-type]
        )
