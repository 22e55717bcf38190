"""Which external binaries the harness needs, and whether their absence skips or fails."""

from __future__ import annotations

import os
import shutil
from typing import Mapping

from .images import SKOPEO
from .registry import REGISTRY_BIN

#: name -> expected path of the binaries every registry test needs.
REQUIRED_BINARIES: dict[str, str] = {"docker-registry": REGISTRY_BIN, "skopeo": SKOPEO}


def in_ci(environ: Mapping[str, str] | None = None) -> bool:
    """True when ``CI=true`` (case-insensitive): missing binaries must fail, not skip."""
    env = os.environ if environ is None else environ
    return env.get("CI", "").strip().lower() == "true"


def missing_binaries(names: Mapping[str, str] | None = None) -> list[str]:
    """Names (of ``REQUIRED_BINARIES`` by default) found neither at their path nor on PATH."""
    wanted = REQUIRED_BINARIES if names is None else names
    return [n for n, path in wanted.items() if not (os.access(path, os.X_OK) or shutil.which(n))]


def binary_policy(missing: list[str], ci: bool) -> tuple[str, str]:
    """Decide ``("ok"|"skip"|"fail", message)`` for the given missing binaries."""
    if not missing:
        return "ok", ""
    msg = f"required binaries missing: {', '.join(missing)} (Debian packages docker-registry, skopeo, apache2-utils)"
    if ci:
        return "fail", f"CI=true and {msg}"
    return "skip", f"{msg}; set CI=true to make this an error"
