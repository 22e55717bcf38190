"""Image references parsed as docker parses them. Pure: no I/O.

``alpine`` is ``docker.io/library/alpine:latest``; ``localhost:5000/team/app@sha256:...`` names a
registry with a port, a repository and a digest. The first path component is a registry when it
contains a ``.`` or a ``:`` or is ``localhost`` (docker's rule).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from reginventory.errors import InvalidReferenceError

DOCKER_HUB = "docker.io"
#: The host that serves Docker Hub's API (docker.io and index.docker.io are names for it).
DOCKER_HUB_API = "registry-1.docker.io"
DEFAULT_TAG = "latest"

# distribution/reference's grammar.
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
REPOSITORY_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[A-Za-z0-9=_-]{32,}$")
SHA256_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
#: Tags that attach to a subject manifest instead of naming an image: cosign-style
#: ``sha256-<hex>.sig|.att|.sbom`` and the OCI referrers fallback index ``sha256-<hex>``.
REFERRER_TAG_RE = re.compile(r"^(sha256|sha512)-([a-f0-9]{64}|[a-f0-9]{128})(\.sig|\.att|\.sbom)?$")


def referrer_tag_subject(tag: str) -> str | None:
    """The subject digest a referrer tag (``sha256-<hex>[.sig|.att|.sbom]``) names, else None."""
    match = REFERRER_TAG_RE.match(tag)
    return f"{match.group(1)}:{match.group(2)}" if match else None
_HOST_RE = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::[0-9]+)?$")
#: Many clients cap registry + "/" + repository at 255 characters; so do we.
MAX_NAME_LENGTH = 255


@dataclass(frozen=True)
class Reference:
    """A parsed reference: ``registry/repository[:tag][@digest]``."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str:
        """What to ask the registry for: the digest when there is one, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def api_registry(self) -> str:
        """The host that serves the API (Docker Hub's names map to its API host)."""
        return DOCKER_HUB_API if self.registry in (DOCKER_HUB, "index.docker.io") else self.registry

    def with_tag(self, tag: str) -> Reference:
        return replace(self, tag=validate_tag(tag), digest=None)

    def with_digest(self, digest: str) -> Reference:
        return replace(self, digest=validate_digest(digest))

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def validate_repository(name: str) -> str:
    """Return ``name`` if it is a valid repository path, else raise InvalidReferenceError."""
    if not name or not REPOSITORY_RE.match(name):
        raise InvalidReferenceError(
            f"invalid repository name {name!r}: lowercase letters, digits and separators . _ __ - /"
        )
    return name


def validate_tag(tag: str) -> str:
    """Return ``tag`` if valid (``[A-Za-z0-9_][A-Za-z0-9._-]{0,127}``), else raise."""
    if not TAG_RE.match(tag):
        raise InvalidReferenceError(f"invalid tag {tag!r}: at most 128 of A-Z a-z 0-9 _ . -, not starting with . or -")
    return tag


def validate_digest(digest: str) -> str:
    """Return ``digest`` if it is ``algorithm:hex``; sha256 must be 64 lowercase hex digits."""
    if not DIGEST_RE.match(digest) or (digest.startswith("sha256:") and not SHA256_RE.match(digest)):
        raise InvalidReferenceError(f"invalid digest {digest!r}: expected sha256:<64 hex digits>")
    return digest


def is_registry_component(component: str) -> bool:
    """Docker's rule: the first component is a registry if it has ``.`` or ``:``, or is localhost."""
    return "." in component or ":" in component or component == "localhost"


def parse_reference(text: str, *, default_registry: str = DOCKER_HUB) -> Reference:
    """Parse a reference as docker does; raise InvalidReferenceError naming what is wrong."""
    original = text
    if not text or text != text.strip():
        raise InvalidReferenceError(f"invalid reference {original!r}: empty or surrounded by spaces")
    if text.startswith("docker://"):
        text = text[len("docker://") :]
    digest = None
    if "@" in text:
        text, digest = text.split("@", 1)
        validate_digest(digest)
    registry = default_registry
    first, sep, rest = text.partition("/")
    if sep and is_registry_component(first):
        if not _HOST_RE.match(first):
            raise InvalidReferenceError(f"invalid reference {original!r}: bad registry host {first!r}")
        registry, text = first, rest
    tag = None
    name = text
    colon = text.rfind(":")
    if colon > text.rfind("/"):
        name, tag = text[:colon], text[colon + 1 :]
        try:
            validate_tag(tag)
        except InvalidReferenceError as exc:
            raise InvalidReferenceError(f"invalid reference {original!r}: {exc}") from None
    if registry == "index.docker.io":
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in name:
        name = f"library/{name}"
    try:
        validate_repository(name)
    except InvalidReferenceError as exc:
        raise InvalidReferenceError(f"invalid reference {original!r}: {exc}") from None
    if len(registry) + 1 + len(name) > MAX_NAME_LENGTH:
        raise InvalidReferenceError(f"invalid reference {original!r}: name longer than {MAX_NAME_LENGTH} characters")
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return Reference(registry=registry, repository=name, tag=tag, digest=digest)


def split_scheme(text: str) -> tuple[str | None, str]:
    """Split an optional ``http://`` or ``https://`` off a registry URL or reference."""
    for scheme in ("http", "https"):
        if text.startswith(f"{scheme}://"):
            return scheme, text[len(scheme) + 3 :]
    return None, text


def split_registry_url(url: str) -> tuple[str | None, str]:
    """Split ``https://host:port/`` or ``host:port`` into (scheme or None, host)."""
    scheme, rest = split_scheme(url)
    host = rest.rstrip("/")
    if "/" in host or not host or not _HOST_RE.match(host):
        raise InvalidReferenceError(f"invalid registry {url!r}: expected host[:port] or a http(s):// URL")
    return scheme, host
