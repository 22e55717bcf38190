"""The on-disk cache of a pulled image, named from a ``filebasename`` (the seed's layout).

For ``filebasename="/data/cache/app"`` the folder is ``/data/cache`` and the files are:

=================================  ==========================================================
file                               content
=================================  ==========================================================
``app.manifest``                   the top manifest, byte for byte (an index when the whole
                                   multi-arch image was pulled, else the image manifest)
``app.<hex>.manifest``             each child manifest of that index, by its digest's hex
``app.<hex>``                      each blob (config and layers): the seed's "layer id" is the
                                   hex of the blob's sha256 digest
``<any of the above>.partial``     a download in progress; it only ever holds a prefix of the
                                   content, so a later pull resumes it with HTTP Range
=================================  ==========================================================

A file gets its final name only after its bytes were verified against the digest (written as
``.partial``, then renamed atomically), so an interrupted pull leaves complete, verified files
and resumable ``.partial`` files, never a final name over wrong bytes. Names derived from digests
contain only hex digits (sha512 digests get a ``sha512-`` prefix), and every path is checked to
resolve inside the folder: neither a repository nor a digest from a registry can write elsewhere.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from reginventory.client.manifest import Manifest, parse_manifest
from reginventory.errors import IllegalArgumentError, InvalidReferenceError

MANIFEST_SUFFIX = ".manifest"
PARTIAL_SUFFIX = ".partial"
#: Files are hashed in pieces of this size when checked on disk.
READ_PIECE_SIZE = 4 * 1024 * 1024
_HEX = {"sha256": re.compile(r"^[a-f0-9]{64}$"), "sha512": re.compile(r"^[a-f0-9]{128}$")}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def digest_file_id(digest: str) -> str:
    """The file-name part for a digest: its hex for sha256 (the seed's layer id), ``sha512-<hex>``.

    Raises InvalidReferenceError for anything else, e.g. ``sha256:../../etc/passwd``.
    """
    algorithm, _, hex_part = digest.partition(":")
    pattern = _HEX.get(algorithm)
    if pattern is None or not pattern.match(hex_part):
        raise InvalidReferenceError(f"refusing to name a file after digest {digest!r}: expected sha256:<64 hex>")
    return hex_part if algorithm == "sha256" else f"{algorithm}-{hex_part}"


def safe_basename(*parts: str) -> str:
    """A file base name built from free text (a repository, a tag): only ``[A-Za-z0-9._-]``,
    never starting with a dot, e.g. ``team/app`` and ``v1`` give ``team_app_v1``."""
    text = "_".join(_UNSAFE.sub("_", p) for p in parts if p).strip("._") or "image"
    return text[:200]


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """The digest of a file, read in pieces (call it from a worker thread for large files)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while piece := f.read(READ_PIECE_SIZE):
            h.update(piece)
    return f"{algorithm}:{h.hexdigest()}"


class BlobCache:
    """Paths and atomic writes of one ``filebasename`` cache. No network here."""

    def __init__(self, filebasename: str | os.PathLike[str]) -> None:
        text = os.fspath(filebasename)
        path = Path(text).expanduser()
        base = path.name
        trailing = text.endswith((os.sep, os.altsep or os.sep, "/."))
        if trailing or not base or base in (".", "..") or "\0" in text or base.endswith(PARTIAL_SUFFIX):
            raise IllegalArgumentError(f"filebasename {str(filebasename)!r} does not end in a usable file name")
        self.folder = path.parent.resolve()
        self.base = base

    def __repr__(self) -> str:
        return f"BlobCache({str(self.folder / self.base)!r})"

    # -- names -------------------------------------------------------------------------------

    def _inside(self, name: str) -> Path:
        path = self.folder / name
        if path.resolve().parent != self.folder or os.sep in name or (os.altsep and os.altsep in name):
            raise IllegalArgumentError(f"cache file {name!r} would leave {self.folder}")
        return path

    @property
    def manifest_path(self) -> Path:
        """``<filebasename>.manifest``: the top manifest."""
        return self._inside(f"{self.base}{MANIFEST_SUFFIX}")

    def child_manifest_path(self, digest: str) -> Path:
        """``<filebasename>.<hex>.manifest``: a child manifest of the index."""
        return self._inside(f"{self.base}.{digest_file_id(digest)}{MANIFEST_SUFFIX}")

    def blob_path(self, digest: str) -> Path:
        """``<filebasename>.<hex>``: a config or layer blob."""
        return self._inside(f"{self.base}.{digest_file_id(digest)}")

    def partial_path(self, path: Path) -> Path:
        """``<file>.partial``: where a download or write happens before its final rename."""
        return self._inside(path.name + PARTIAL_SUFFIX)

    # -- files -------------------------------------------------------------------------------

    def ensure_folder(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def write_atomic(self, path: Path, data: bytes) -> None:
        """Write ``data`` to ``path`` through a ``.partial`` file and a rename."""
        self.ensure_folder()
        partial = self.partial_path(path)
        with open(partial, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)

    def read_manifest(self, path: Path | None = None) -> Manifest:
        """Parse a cached manifest (the top one by default); its media type comes from its body."""
        target = path or self.manifest_path
        return parse_manifest(target.read_bytes())

    def has_manifest(self) -> bool:
        return self.manifest_path.is_file()

    def valid_blob(self, digest: str, size: int | None = None) -> bool:
        """True when the blob's file exists, has ``size`` bytes (when known) and hashes to ``digest``.

        Reads the whole file: call it from a worker thread.
        """
        path = self.blob_path(digest)
        try:
            actual_size = path.stat().st_size
        except FileNotFoundError:
            return False
        if size is not None and actual_size != size:
            return False
        return file_digest(path, digest.split(":", 1)[0]) == digest

    def files(self) -> list[Path]:
        """Every complete file of this cache (no ``.partial``), sorted."""
        prefix = f"{self.base}."
        if not self.folder.is_dir():
            return []
        return sorted(
            p for p in self.folder.iterdir()
            if p.name.startswith(prefix) and not p.name.endswith(PARTIAL_SUFFIX) and p.is_file()
        )

    def partial_files(self) -> list[Path]:
        prefix = f"{self.base}."
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if p.name.startswith(prefix) and p.name.endswith(PARTIAL_SUFFIX))


__all__ = ["BlobCache", "digest_file_id", "file_digest", "safe_basename"]
