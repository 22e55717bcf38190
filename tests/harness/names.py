"""Valid, unique repository names for tests."""

from __future__ import annotations

import itertools
import re
import threading

#: distribution's repository name grammar (path components joined by ``/``).
REPOSITORY_NAME_RE = re.compile(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$")
TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")

_counter = itertools.count(1)
_lock = threading.Lock()


def slugify(text: str, max_len: int = 48) -> str:
    """Lowercase ``text`` into one valid name component (``[a-z0-9]`` runs joined by ``-``)."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:max_len].strip("-") or "t"


def unique_repository(test_name: str, prefix: str = "test") -> str:
    """``<prefix>/<slug of test_name>-<n>`` with a process-wide counter ``n``."""
    with _lock:
        n = next(_counter)
    name = f"{prefix}/{slugify(test_name)}-{n}"
    assert REPOSITORY_NAME_RE.match(name), name
    return name
