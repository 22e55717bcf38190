"""Platforms (os/architecture/variant): parsing, this machine's default, and matching. Pure."""

from __future__ import annotations

import platform as _platform
import sys
from dataclasses import dataclass

from reginventory.errors import InvalidReferenceError

# Python's machine names to GOARCH (and the variant docker assumes), like the seed's getgoarch.
_GOARCH = {
    "x86_64": ("amd64", None),
    "amd64": ("amd64", None),
    "i386": ("386", None),
    "i686": ("386", None),
    "aarch64": ("arm64", "v8"),
    "arm64": ("arm64", "v8"),
    "armv7l": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "ppc64le": ("ppc64le", None),
    "s390x": ("s390x", None),
    "riscv64": ("riscv64", None),
    "mips64": ("mips64", None),
}


def getgoarch() -> str:
    """This machine's architecture as GOARCH names it (``amd64``, ``arm64``...)."""
    machine = _platform.machine().lower()
    return _GOARCH.get(machine, (machine, None))[0]


def getgoos() -> str:
    """This machine's operating system as GOOS names it (``linux``, ``darwin``, ``windows``)."""
    return {"win32": "windows", "cygwin": "windows"}.get(sys.platform, sys.platform.rstrip("0123456789"))


@dataclass(frozen=True)
class Platform:
    """An os/architecture[/variant] triple; ``os_version`` only matters on Windows."""

    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text

    @property
    def is_unknown(self) -> bool:
        """``unknown/unknown``: BuildKit's attestation entries, never a real platform."""
        return self.os == "unknown" or self.architecture == "unknown"

    def matches(self, wanted: Platform) -> bool:
        """True when this platform satisfies ``wanted`` (a missing wanted variant matches any,
        and arm64 without a variant is v8)."""
        if (self.os, self.architecture) != (wanted.os, wanted.architecture):
            return False
        if wanted.variant is None:
            return True
        mine = self.variant or ("v8" if self.architecture == "arm64" else None)
        return mine == wanted.variant


def parse_platform(text: str) -> Platform:
    """Parse ``os/arch[/variant]``; raise InvalidReferenceError on anything else."""
    parts = text.strip().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise InvalidReferenceError(f"invalid platform {text!r}: expected os/arch[/variant], e.g. linux/arm64/v8")
    return Platform(parts[0], parts[1], parts[2] if len(parts) == 3 else None)


def host_platform() -> Platform:
    """This machine's platform, the default for selection from a multi-arch index."""
    machine = _platform.machine().lower()
    arch, variant = _GOARCH.get(machine, (machine, None))
    return Platform(getgoos(), arch, variant if arch == "arm" else None)


def platform_from(os: str | None, architecture: str | None, variant: str | None = None) -> Platform:
    """A Platform from seed-style ``oss``/``arch`` arguments, defaulting to this machine."""
    host = host_platform()
    return Platform(os or host.os, architecture or host.architecture, variant)
