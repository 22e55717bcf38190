"""The per-crawl totals cache: ``<report>-files/crawl-totals.json`` next to the report.

Committed crawls never change, so the figures of a crawl (repositories, tags, images, manifests,
bytes stored) are computed once and reused by the next report written to the same place: a
weekly job computes one crawl's totals per run instead of the whole growth history. The cache
names the snapshot source and a hash of the ``crawl_totals`` query; when either differs, or the
file cannot be read, it is ignored (and rewritten).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from reginventory.report.render import write_text_atomic

CACHE_NAME = "crawl-totals.json"
FORMAT = 1
QUERY = Path(__file__).with_name("queries") / "crawl_totals.sql"


def _fingerprint() -> str:
    return hashlib.sha256(QUERY.read_bytes()).hexdigest()[:16]


def load_totals(path: Path, source: str) -> dict[str, dict[str, Any]]:
    """The cached totals for ``source``, or nothing."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return {}
    if data.get("source") != source or data.get("query") != _fingerprint():
        return {}
    crawls = data.get("crawls")
    return crawls if isinstance(crawls, dict) else {}


def save_totals(path: Path, source: str, cached: dict[str, dict[str, Any]], computed: dict[str, dict[str, Any]]) -> None:
    """Add the crawls computed now to the cache (older entries stay: they are still true)."""
    if not computed and path.exists():
        return
    merged = {**cached, **computed}
    document = {"format": FORMAT, "source": source, "query": _fingerprint(), "crawls": merged}
    write_text_atomic(path, json.dumps(document, indent=1, sort_keys=True) + "\n")
