"""StreamDigest: pieces hashed (and written) by its worker thread stay in order and are verified."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os

import pytest

from reginventory.client.registry_writer import HASH_QUEUE_BYTES, THREADED_HASH_MIN_BYTES, StreamDigest
from reginventory.errors import DigestMismatchError


def pieces(total: int) -> list[bytes]:
    """Random pieces of mixed sizes, below and above the threaded-hash threshold."""
    sizes = [THREADED_HASH_MIN_BYTES * 3, 100, THREADED_HASH_MIN_BYTES, 7, THREADED_HASH_MIN_BYTES * 2 + 1]
    out, i = [], 0
    while sum(map(len, out)) < total:
        out.append(os.urandom(sizes[i % len(sizes)]))
        i += 1
    return out


def test_threaded_pieces_are_hashed_and_written_in_order() -> None:
    data = pieces(8 * 1024 * 1024)
    whole = b"".join(data)
    digest = "sha256:" + hashlib.sha256(whole).hexdigest()
    sink = io.BytesIO()

    async def run() -> StreamDigest:
        verifier = StreamDigest(digest, sink=sink)
        for piece in data:
            await verifier.update(piece)
            assert verifier.queued <= HASH_QUEUE_BYTES  # memory stays bounded
        await verifier.check()
        verifier.close()
        return verifier

    verifier = asyncio.run(run())
    assert verifier.size == len(whole)
    assert verifier.actual == digest
    assert sink.getvalue() == whole


def test_a_wrong_digest_is_caught_after_threaded_hashing() -> None:
    data = pieces(2 * 1024 * 1024)
    wrong = "sha256:" + hashlib.sha256(b"something else").hexdigest()

    async def run() -> None:
        verifier = StreamDigest(wrong)
        try:
            for piece in data:
                await verifier.update(piece)
            await verifier.check(registry="r", repository="x", reference=wrong)
        finally:
            verifier.close()

    with pytest.raises(DigestMismatchError, match="not " + wrong):
        asyncio.run(run())
