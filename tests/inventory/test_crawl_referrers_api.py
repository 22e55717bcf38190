"""A registry with the OCI referrers API (a loopback proxy adds it in front of distribution 2.8,
which lacks it): untagged referrers are found through it and recorded with source 'api'."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest
from crawl_faults import FaultProxy
from crawl_helpers import dicts
from harness.images import ImageSpec, build_artifact, build_image, push
from harness.registry import RegistryServer

from reginventory.inventory.crawl import crawl
from reginventory.inventory.crawl_config import CrawlTarget

pytestmark = pytest.mark.needs_registry

IMAGE = build_image(ImageSpec(layers=[{"app": "with referrers\n"}]))
SBOM = build_artifact(IMAGE)


def referrers_api(method: str, path: str, upstream: object) -> tuple[int, dict[str, str], bytes]:
    """The referrers index of a digest: the SBOM for IMAGE, nothing for anything else."""
    manifests = []
    if path.split("?")[0].endswith(IMAGE.digest):
        manifests = [SBOM.descriptor(in_index=True)]
    body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests})
    return 200, {"Content-Type": "application/vnd.oci.image.index.v1+json"}, body.encode()


def test_referrers_found_through_the_api(fresh_registry: Callable[..., RegistryServer], tmp_path: Path) -> None:
    registry = fresh_registry()
    push(registry, IMAGE, "team/app", "v1", verify=False)
    push(registry, SBOM, "team/app", None, verify=False)  # by digest only: no tag reaches it
    with FaultProxy(registry.url).add("GET", r"^/v2/team/app/referrers/", referrers_api) as proxy:
        [result] = crawl(CrawlTarget(proxy.url), str(tmp_path))
        [again] = crawl(CrawlTarget(proxy.url), str(tmp_path))
    assert result.status == "complete"
    referrers = {(r["subject_digest"], r["digest"], r["source"], r["kind"]) for r in dicts(str(tmp_path), "referrers", result.crawl_id)}
    assert referrers == {
        (IMAGE.digest, SBOM.digest, "api", "sbom"),
        (IMAGE.digest, SBOM.digest, "subject", "sbom"),
    }
    manifests = {m["digest"]: m for m in dicts(str(tmp_path), "manifests", result.crawl_id)}
    assert (manifests[SBOM.digest]["reached_by"], manifests[SBOM.digest]["tagged"]) == ("referrer", False)
    [crawl_row] = [c for c in dicts(str(tmp_path), "crawls") if c["crawl_id"] == result.crawl_id]
    assert json.loads(crawl_row["options"])["referrers_api"] is True
    # the incremental crawl asks the API again (new referrers need no new tag), and fetches nothing
    assert again.mode == "incremental"
    assert {r["digest"] for r in dicts(str(tmp_path), "referrers", again.crawl_id)} == {SBOM.digest}
