"""Hand-made snapshots for the report tests, written through the real store (RegistryModel).

``two_crawls`` holds two crawls a week apart of a small registry with everything a report
shows: shared base layers, a multi-arch index with attestations, stale tags, an untagged
manifest, a cosign signature whose subject is deleted (a dangling referrer), duplicate tags, and
hostile strings: the label ``<script>alert(1)</script>``, an annotation with quotes and markup,
and a tag name made of HTML. ``partial_crawl`` is one crawl with recorded errors.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "benchmarks") not in sys.path:
    sys.path.insert(0, str(ROOT / "benchmarks"))

from synthetic import RegistryModel  # noqa: E402

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

from reginventory.analysis import open_inventory  # noqa: E402
from reginventory.inventory import schema  # noqa: E402
from reginventory.inventory.store import SnapshotStore  # noqa: E402

REGISTRY = "registry.test:5000"
T0 = dt.datetime(2024, 6, 1, tzinfo=dt.timezone.utc)
WEEK = dt.timedelta(days=7)
XSS_LABEL = "<script>alert(1)</script>"
HTML_TAG = '"><img src=x onerror=alert(2)>'
QUOTED_ANNOTATION = "it's \"quoted\" & <b>bold</b>"
ERROR_MESSAGE = "<b>boom</b> & \"quotes\" =cmd|' /C calc'!A0"
#: Small repositories that make the repositories table longer than a page.
FILLER_REPOSITORIES = 12


def days_ago(days: float, now: dt.datetime = T0) -> dt.datetime:
    return now - dt.timedelta(days=days)


def build_model() -> RegistryModel:
    """The registry as of the first crawl."""
    m = RegistryModel(REGISTRY)
    os_layer = m.blob("os", 30_000_000)
    runtime = m.blob("runtime", 50_000_000)
    base = m.image("base-1", [os_layer, runtime], created=days_ago(400))
    m.push("library/base", base, "1.0", "latest")

    app = []
    for n, age in enumerate((300, 200, 120, 100, 10)):
        image = m.image(f"app-{n}", [os_layer, runtime, m.blob(f"app-layer-{n}", 5_000_000 + n)], created=days_ago(age))
        app.append(image)
    m.push("team-a/app", app[0], "1.0.0", HTML_TAG)
    m.push("team-a/app", app[1], "1.1.0")
    m.push("team-a/app", app[2], "1.2.0")
    m.push("team-a/app", app[3], "1.3.0", "stable")
    m.push("team-a/app", app[4], "2.0.0", "latest")
    rc = m.image("app-rc", [os_layer, runtime, m.blob("app-rc-layer", 6_000_000)], created=days_ago(5))
    rc.labels = {"org.opencontainers.image.description": XSS_LABEL, "org.opencontainers.image.version": "2.1.0-rc1"}
    rc.annotations = {"org.example.note": QUOTED_ANNOTATION}
    m.push("team-a/app", rc, "2.1.0-rc1")
    m.sign("team-a/app", app[4], "sig-app-4")

    amd = m.image("api-amd64", [os_layer, m.blob("api-amd", 8_000_000)], created=days_ago(50))
    arm = m.image("api-arm64", [m.blob("os-arm", 28_000_000), m.blob("api-arm", 7_000_000)],
                  created=days_ago(50), platform=("linux", "arm64", "v8"))
    index = m.index("api-1", [amd, arm], attestations=[m.attestation("api-att-1")])
    m.push("team-b/api", index, "1.0", "latest")

    old = [m.image(f"old-{n}", [os_layer, m.blob(f"old-layer-{n}", 3_000_000)], created=days_ago(365 - n)) for n in range(8)]
    for n, image in enumerate(old):
        m.push("team-b/old", image, f"v{n}")
    m.sign("team-b/old", old[0], "sig-old-0")
    m.push("team-c/copy", app[1], "1.1.0")  # the same digest as team-a/app:1.1.0

    for n in range(FILLER_REPOSITORIES):
        image = m.image(f"svc-{n}", [os_layer, m.blob(f"svc-layer-{n}", 100_000 * (n + 1))], created=days_ago(20 + n))
        m.push(f"team-d/svc-{n:02d}", image, "1.0")
    return m


def two_crawls(root: Path) -> RegistryModel:
    """Two crawls a week apart; between them an untag, a deletion and a new push."""
    m = build_model()
    m.crawl(root, "c1", T0 - WEEK)
    m.untag("team-b/old", "v7")  # v7 stays as an untagged manifest
    m.delete("team-b/old", m.content[_digest(m, "old-0")])  # its signature dangles now
    fresh = m.image("app-5", [m.blob("os", 30_000_000), m.blob("app-layer-5", 4_000_000)], created=days_ago(1))
    m.push("team-a/app", fresh, "2.0.1")
    m.crawl(root, "c2", T0)
    return m


def partial_crawl(root: Path) -> RegistryModel:
    """One crawl that recorded errors: status partial."""
    m = build_model()
    writer = SnapshotStore(str(root)).writer(REGISTRY, "p1")
    rows = m.rows(T0)
    for table, table_rows in rows.items():
        writer.add(table, table_rows)
    errors = [
        {"repository": "team-x/broken", "reference": "1.0", "stage": "manifest", "error_type": "RegistryError",
         "status": 500, "message": ERROR_MESSAGE},
        {"repository": None, "reference": None, "stage": "catalog", "error_type": "RegistryUnavailableError",
         "status": None, "message": "connection reset"},
    ]
    writer.add("errors", errors)
    writer.commit(
        {"started": T0, "finished": T0 + dt.timedelta(minutes=3), "status": schema.STATUS_PARTIAL, "mode": "full",
         "repositories": len(m.revisions), "tags": len(rows["tags"]), "manifests": len(rows["manifests"]),
         "errors": len(errors), "requests": 100, "options": "{}", "tool_version": "test"}
    )
    return m


def expected_figures(snapshot: Path, crawl: str | None = None) -> dict[str, int]:
    """The headline figures, straight from the queries of queries/ and the analysis views."""
    with open_inventory(snapshot, crawl) as inv:
        repo_sizes = inv.run_arrow("repo_sizes")
        tags = inv.run_arrow("tags")
        untagged = inv.run_arrow("untagged")
        stale = inv.run_arrow("stale_tags", as_of=max(c["started"] for c in inv.crawls))  # ages at the crawl
        # The default policy, spelled out: untagged manifests, and digests whose every tag is stale.
        whole = stale.filter(pc.equal(pc.list_value_length(stale.column("kept_tags")), 0))
        deletions = pa.concat_tables([untagged.select(["registry", "repository", "digest"]),
                                      whole.select(["registry", "repository", "digest"])]).to_pylist()
        freed = inv.run_arrow("reclaimable", deletions=deletions, by="registry")
        stored = inv.sql('SELECT sum(size) AS s FROM blobs WHERE NOT "foreign"')["s"][0]
        images = tags.group_by(["registry", "repository"]).aggregate([("digest", "count_distinct")])
        return {
            "registries": len(inv.registries),
            "repositories": repo_sizes.num_rows,
            "tags": tags.num_rows,
            "images": int(pc.sum(images.column("digest_count_distinct")).as_py()),
            "stored_bytes": int(stored),
            "reclaimable_bytes": int(pc.sum(freed.column("size")).as_py() or 0),
            "stale_tags": stale.num_rows,
            "untagged": untagged.num_rows,
            "dangling_referrers": inv.run_arrow("dangling_referrers").num_rows,
            "duplicates": inv.run_arrow("duplicates").num_rows,
        }


def _digest(m: RegistryModel, name: str) -> str:
    from synthetic import digest_of

    return digest_of(f"manifest:{name}")
