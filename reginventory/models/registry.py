"""The seed's Registry, Repository and Image (``dockerreg.models``), synchronous.

Each object runs the async :class:`~reginventory.client.registry_client.RegistryClient` on a
background event loop (:mod:`reginventory.client.sync`), so it works in scripts and inside
Jupyter's running loop alike.

Where the seed is silent, reginventory decides:

- the namespace of ``team/app`` is ``team``; of ``a/b/c`` it is ``a``; a name without ``/`` is in
  namespace ``library`` (Docker Hub's convention, as dreg-client does);
- ``arch``/``oss`` default to this machine's GOARCH/GOOS, and only matter for multi-arch images;
- ``check_image`` returns 0 when everything is present, 1 when the manifest is missing and 2 when
  the config or some layer is missing (:attr:`Registry.last_check` lists the missing digests).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Awaitable, Callable, TypeVar

from reginventory.client.credentials import Credentials, resolve_credentials
from reginventory.client.image_info import ImageInfo
from reginventory.client.manifest import ImageManifest, IndexManifest
from reginventory.client.platform import Platform, platform_from
from reginventory.client.registry_client import RegistryClient
from reginventory.client.sync import close_at_exit, run_sync
from reginventory.client.transport import DEFAULT_MAX_IN_FLIGHT, TLSOptions, resolve_base_url
from reginventory.errors import NotFoundError
from reginventory.models.manifests import Manifest, ManifestListV22, wrap_manifest
from reginventory.models.transfer import RegistryWriteMixin

T = TypeVar("T")

ROOT_NAMESPACE = "library"

CHECK_OK = 0
CHECK_MISSING_MANIFEST = 1
CHECK_MISSING_BLOBS = 2


def namespace_of(repository: str) -> str:
    """The namespace of a repository: its first path component, ``library`` for a single one."""
    return repository.split("/", 1)[0] if "/" in repository else ROOT_NAMESPACE


class Registry(RegistryWriteMixin):
    """A registry: ``Registry("http://127.0.0.1:5000")`` or ``Registry("ghcr.io", username=..., password=...)``.

    Auth/TLS options: ``username``/``password`` (else the environment, else the docker config
    unless ``skip_docker_config``), ``no_verify``, ``ca_bundle``, ``cert``, ``plain_http`` (HTTP for a
    host that is not loopback), ``allow_insecure`` (send a password over such HTTP).
    """

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        no_verify: bool = False,
        ca_bundle: str | None = None,
        cert: str | tuple[str, str] | None = None,
        skip_docker_config: bool = False,
        plain_http: bool = False,
        allow_insecure: bool = False,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    ) -> None:
        self.url, self.name = resolve_base_url(url, plain_http=plain_http)
        self.tls = TLSOptions(no_verify=no_verify, ca_bundle=ca_bundle, cert=cert)
        self.credentials: Credentials = resolve_credentials(
            self.name, username, password, use_docker_config=not skip_docker_config
        )
        self.plain_http = plain_http
        self.allow_insecure = allow_insecure
        self.max_in_flight = max_in_flight
        self._client: RegistryClient | None = None
        self.last_check: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"Registry({self.url!r})"

    # -- plumbing ------------------------------------------------------------------------------

    async def _make_client(self) -> RegistryClient:
        if self._client is None:
            self._client = RegistryClient(
                self.url, credentials=self.credentials, tls=self.tls, plain_http=self.plain_http,
                allow_insecure=self.allow_insecure, max_in_flight=self.max_in_flight,
            )
            close_at_exit(self._client.aclose)
        return self._client

    def run(self, operation: Callable[[RegistryClient], Awaitable[T]]) -> T:
        """Run ``operation(client)`` on the background loop and return its result."""

        async def call() -> T:
            return await operation(await self._make_client())

        return run_sync(call())

    def close(self) -> None:
        """Close the connections (the object stays usable: they reopen on demand)."""
        if self._client is not None:
            client, self._client = self._client, None
            run_sync(client.aclose())

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the seed's API ------------------------------------------------------------------------

    def authping(self) -> bool:
        """True if ``/v2/`` answers 200 with these credentials; False on 401/403/404."""
        return self.run(lambda c: c.ping())

    def catalog(self) -> list[str]:
        """Every repository name, paging through the catalog to the end."""
        return self.run(lambda c: c.catalog())

    @property
    def namespaces(self) -> list[str]:
        """Every namespace, sorted."""
        return self.get_namespaces()

    @property
    def repositories(self) -> dict[str, Repository]:
        """Every repository, keyed by its full name."""
        return {name: Repository(self, name) for name in sorted(self.catalog())}

    def get_namespaces(self, regexp: str | None = None) -> list[str]:
        """Namespaces, those matching ``regexp`` (re.search) when given."""
        pattern = re.compile(regexp) if regexp else None
        names = sorted({namespace_of(r) for r in self.catalog()})
        return [n for n in names if pattern is None or pattern.search(n)]

    def get_repositories(self, regexp: str | None = None, namespace_regexp: str | None = None) -> dict[str, list[str]]:
        """Namespace to sorted repository names, filtered by ``regexp`` on the full name and
        ``namespace_regexp`` on the namespace (both re.search)."""
        repo_pattern = re.compile(regexp) if regexp else None
        ns_pattern = re.compile(namespace_regexp) if namespace_regexp else None
        result: dict[str, list[str]] = {}
        for name in sorted(self.catalog()):
            namespace = namespace_of(name)
            if repo_pattern and not repo_pattern.search(name):
                continue
            if ns_pattern and not ns_pattern.search(namespace):
                continue
            result.setdefault(namespace, []).append(name)
        return result

    def get_tags(self, repository: str, metadata: bool = False) -> list[Any]:
        """Tags of a repository; with ``metadata``, a reference-metadata dict per tag."""
        return Repository(self, repository).get_tags(metadata=metadata)

    def _info(self, repository: str, tag: str, arch: str | None, oss: str | None) -> ImageInfo:
        platform = platform_from(oss, arch)
        return self.run(lambda c: c.describe_image(repository, tag, platform))

    def get_image_size(self, repository: str, tag: str, arch: str | None = None, oss: str | None = None,
                       filebasename: str | None = None) -> int:
        """Compressed bytes of the image for the platform: config + layers."""
        return self._info(repository, tag, arch, oss).size

    def get_image_created(self, repository: str, tag: str, arch: str | None = None, oss: str | None = None,
                          filebasename: str | None = None) -> str | None:
        """The image's creation time (ISO 8601 UTC), or None when unknown."""
        return self._info(repository, tag, arch, oss).to_dict()["created"]

    def get_image_metadata(self, repository: str, tag: str, arch: str | None = None, oss: str | None = None) -> dict[str, Any]:
        """Reference metadata and image metadata in one dict.

        Keys: registry, repository, reference, digest, index_digest, media_type, kind,
        manifest_size, size, config_digest, config_size, layers_size, created, os, architecture,
        variant, layers (digest, size, media_type), labels, annotations, artifact_type,
        subject_digest.
        """
        return self._info(repository, tag, arch, oss).to_dict()

    def check_image(self, repository: str, tag: str, arch: str | None = None, oss: str | None = None) -> int:
        """0 when the manifest, config and every layer are present; 1 manifest missing;
        2 blobs missing (listed in ``last_check['missing']``)."""
        platform = platform_from(oss, arch)

        async def check(client: RegistryClient) -> dict[str, Any]:
            try:
                _, image = await client.resolve_image(repository, tag, platform)
            except NotFoundError:
                return {"code": CHECK_MISSING_MANIFEST, "missing": [tag]}
            blobs: list[str] = []
            if isinstance(image, ImageManifest):
                blobs = ([image.config.digest] if image.config else []) + [l.digest for l in image.layers if not l.foreign]
            else:
                blobs = list(getattr(image, "fs_layers", ()))
            missing = [d for d in dict.fromkeys(blobs) if await client.head_blob(repository, d) is None]
            return {"code": CHECK_MISSING_BLOBS if missing else CHECK_OK, "missing": missing}

        self.last_check = self.run(check)
        return int(self.last_check["code"])


class Repository:
    """One repository of a registry."""

    def __init__(self, registry: Registry, repository: str) -> None:
        self.registry = registry
        self.name = repository

    @property
    def namespace(self) -> str:
        return namespace_of(self.name)

    def __repr__(self) -> str:
        return f"Repository({self.registry.name}/{self.name})"

    def get_tags(self, metadata: bool = False) -> list[Any]:
        """Tags, sorted; with ``metadata``, :meth:`get_reference_metadata` of each (plus ``tag``)."""
        tags = sorted(self.registry.run(lambda c: c.list_tags(self.name)))
        if not metadata:
            return tags

        async def heads(client: RegistryClient) -> list[dict[str, Any]]:
            found = await asyncio.gather(*(self._reference_metadata(client, tag) for tag in tags))
            return [dict(meta, tag=tag) for tag, meta in zip(tags, found)]

        return self.registry.run(heads)

    async def _reference_metadata(self, client: RegistryClient, reference: str) -> dict[str, Any]:
        head = await client.head_manifest(self.name, reference)
        return {
            "registry": self.registry.name, "repository": self.name, "reference": reference,
            "digest": head.digest, "media_type": head.media_type, "size": head.size,
        }

    def get_reference_metadata(self, reference: str) -> dict[str, Any]:
        """{registry, repository, reference, digest, media_type, size (manifest bytes)} by HEAD."""
        return self.registry.run(lambda c: self._reference_metadata(c, reference))

    def get_image(self, tag: str, arch: str | None = None, oss: str | None = None,
                  filebasename: str | None = None) -> Image:
        """The image at ``tag`` for the platform (this machine's by default)."""
        platform = platform_from(oss, arch)

        async def fetch(client: RegistryClient) -> Image:
            top, image = await client.resolve_image(self.name, tag, platform)
            config = await client.get_config(self.name, image) if isinstance(image, ImageManifest) else None
            manifest_list = wrap_manifest(top, self.name, tag) if isinstance(top, IndexManifest) else None
            manifest = wrap_manifest(image, self.name, tag, config, manifest_list)  # type: ignore[arg-type]
            return Image(self, tag, manifest, platform, filebasename)

        return self.registry.run(fetch)


class Image:
    """An image of a repository at a tag, for one platform."""

    def __init__(self, repository: Repository, tag: str, manifest: Manifest, platform: Platform,
                 filebasename: str | None = None) -> None:
        self.repository = repository
        self.tag = tag
        self.manifest = manifest
        self.platform = platform
        self.filebasename = filebasename
        self.deleted = False

    @property
    def id(self) -> str:
        """The image manifest's digest."""
        return self.manifest.digest

    @property
    def manifest_list(self) -> ManifestListV22 | None:
        return getattr(self.manifest, "manifest_list", None)

    def size(self) -> int:
        """Compressed bytes: config + layers."""
        return int(getattr(self.manifest, "size", 0))

    def __repr__(self) -> str:
        return f"Image({self.repository.registry.name}/{self.repository.name}:{self.tag} {self.id})"
