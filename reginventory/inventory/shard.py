"""Sharding: which of N crawl processes owns a repository. Pure.

A repository belongs to shard ``sha256(name) mod N``: stable across machines, Python versions and
runs (unlike ``hash()``), and spread evenly whatever the names look like. N processes started with
``--shard 0/N`` ... ``--shard N-1/N`` and one ``--crawl-id`` together crawl every repository once.
"""

from __future__ import annotations

import hashlib
import re

from reginventory.errors import IllegalArgumentError

#: The shard of an unsharded crawl, as the ``crawls.shard`` column spells it.
UNSHARDED = (0, 1)
_SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` (0 <= I < N) as ``(I, N)``; raise IllegalArgumentError otherwise."""
    match = _SHARD_RE.match(text)
    if not match:
        raise IllegalArgumentError(f"invalid shard {text!r}: expected I/N, e.g. 0/4")
    index, total = int(match.group(1)), int(match.group(2))
    if total < 1 or not 0 <= index < total:
        raise IllegalArgumentError(f"invalid shard {text!r}: I must be in 0..N-1 and N at least 1")
    return index, total


def shard_of(repository: str, total: int) -> int:
    """The shard (0-based) that owns ``repository`` among ``total`` shards."""
    if total <= 1:
        return 0
    digest = hashlib.sha256(repository.encode()).digest()
    return int.from_bytes(digest[:8], "big") % total


def in_shard(repository: str, shard: tuple[int, int]) -> bool:
    """True when ``repository`` belongs to ``shard`` = ``(index, total)``."""
    return shard_of(repository, shard[1]) == shard[0]


def format_shard(shard: tuple[int, int]) -> str:
    return f"{shard[0]}/{shard[1]}"
