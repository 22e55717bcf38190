"""The progress file of a crawl in staging: what ``--resume`` trusts must never be half written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reginventory.inventory.store import PROGRESS_FILE, SnapshotStore


class _CutWrites:
    """A filesystem whose output streams write half of what they are given, then fail (a crash
    or a full disk in the middle of a write)."""

    def __init__(self, fs: Any) -> None:
        self._fs = fs

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fs, name)

    def open_output_stream(self, path: str) -> Any:
        stream = self._fs.open_output_stream(path)

        class Cut:
            def __enter__(self) -> Cut:
                return self

            def __exit__(self, *exc: object) -> None:
                stream.close()

            def write(self, data: bytes) -> None:
                stream.write(data[: len(data) // 2])
                raise OSError("no space left on device")

        return Cut()


def test_a_failed_write_leaves_the_previous_progress_whole(tmp_path: Path) -> None:
    writer = SnapshotStore(str(tmp_path)).writer("127.0.0.1:5000", "20240101T000000Z-abcdef")
    first = {"type": "start", "mode": "full"}
    writer.record_progress(first)
    real = writer.fs
    writer.fs = _CutWrites(real)
    with pytest.raises(OSError, match="no space"):
        writer.record_progress({"type": "checkpoint", "repositories": ["a"] * 100})
    writer.fs = real
    assert writer.progress() == [first]
    second = {"type": "checkpoint", "repositories": ["b"]}
    writer.record_progress(second)  # the leftover temporary file is simply replaced
    assert writer.progress() == [first, second]
    assert sorted(p.name for p in Path(writer.staging_dir).iterdir() if p.is_file()) == [PROGRESS_FILE]


def test_a_line_cut_short_ends_the_progress(tmp_path: Path) -> None:
    writer = SnapshotStore(str(tmp_path)).writer("127.0.0.1:5000", "20240101T000000Z-abcdef")
    writer.record_progress({"type": "start"})
    path = Path(writer.staging_dir) / PROGRESS_FILE
    path.write_text(path.read_text() + '{"type": "checkpoint", "repos')  # an older, in-place write
    assert writer.progress() == [{"type": "start"}]
