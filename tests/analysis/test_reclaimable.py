"""reclaimable and cascade: what deleting manifests frees, with the cascade distribution needs.

On the hand-made scenario (scenario.py). The garbage-collection check against a real
registry (delete, run ``docker-registry garbage-collect``, compare the shrink of
``docker/registry/v2/blobs`` with the prediction) plugs in here once the crawled-registry
fixture exists: same deletion sets, same expected totals.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.synthetic import RegistryModel
from reginventory.analysis import Inventory, open_inventory
from reginventory.analysis.deletions import load_freed
from reginventory.errors import SnapshotError
from tests.analysis.scenario import REGISTRY, Scenario


def rows(inv: Inventory, name: str, **params: Any) -> list[dict[str, Any]]:
    return inv.run_arrow(name, params).to_pylist()


def total(inv: Inventory, deletions: Any, **params: Any) -> tuple[int, int]:
    got = rows(inv, "reclaimable", deletions=deletions, by="registry", **params)
    return (got[0]["size"], got[0]["blobs"]) if got else (0, 0)


def test_one_image(inventory: Inventory, scenario: Scenario) -> None:
    d = scenario.digest
    got = rows(inventory, "reclaimable", deletions=[("team/app", d("app_v1"))])
    app1 = scenario.model.blob("app1", 0).digest
    config = scenario.m["app_v1"].config
    assert config is not None
    expected = [
        {"registry": REGISTRY, "repository": None, "digest": d("app_v1"), "kind": "manifest",
         "repositories": ["team/app"], "blobs": 1, "size": 500},
        {"registry": REGISTRY, "repository": None, "digest": config.digest, "kind": "config",
         "repositories": ["team/app"], "blobs": 1, "size": 100},
        {"registry": REGISTRY, "repository": None, "digest": app1, "kind": "layer",
         "repositories": ["team/app"], "blobs": 1, "size": 10},
    ]
    assert got == expected  # os and rt stay: other revisions reference them


def test_an_index_with_its_cascade(inventory: Inventory, scenario: Scenario) -> None:
    d = scenario.digest
    deletions = [(REGISTRY, "tools/cli", d("cli_idx"))]
    cascade = rows(inventory, "cascade", deletions=deletions)
    assert [(r["digest"], r["reason"], r["cause"], r["tags"]) for r in cascade] == [
        (d("cli_idx"), "requested", None, ["2.0"]),
        *sorted(
            [(d(n), "index child", d("cli_idx"), []) for n in ("cli_arm", "at_amd", "at_arm")]
        ),
        (d("sig_cli"), "referrer", d("cli_idx"), [scenario.sig_tag("cli_idx")]),
    ]  # cli_amd stays: the tag 2.0-amd64 holds it
    # index 800; cli_arm 500+100+4000+600; attestations 300+2+50 and 300+2+60; sig 400+2+250
    assert total(inventory, deletions) == (7366, 14)


def test_an_index_alone_frees_only_itself(inventory: Inventory, scenario: Scenario) -> None:
    # Distribution keeps the children as untagged revisions: only the index's own bytes go.
    deletions = [(REGISTRY, "tools/cli", scenario.digest("cli_idx"))]
    assert total(inventory, deletions, expand=False) == (800, 1)
    assert len(rows(inventory, "cascade", deletions=deletions, expand=False)) == 1


def test_shared_content_is_not_freed(inventory: Inventory, scenario: Scenario) -> None:
    # app_v2 is also a revision of team/app-mirror, and app2 is a layer of app_v3.
    assert rows(inventory, "reclaimable", deletions=[("team/app", scenario.digest("app_v2"))]) == []


def test_across_repositories(inventory: Inventory, scenario: Scenario) -> None:
    d = scenario.digest
    deletions = [("team/app", d("app_v2")), ("team/app", d("app_v3")),
                 ("team/app-mirror", d("app_v2"))]
    assert total(inventory, deletions) == (1220, 5)
    by_repo = rows(inventory, "reclaimable", deletions=deletions, by="repository")
    assert [(r["repository"], r["blobs"], r["size"]) for r in by_repo] == [
        ("team/app", 5, 1220),
        ("team/app-mirror", 3, 620),
    ]
    registry = rows(inventory, "reclaimable", deletions=deletions, by="registry")
    assert registry[0]["repositories"] == ["team/app", "team/app-mirror"]
    # by blob: the blobs of both repositories list both (sorted), the others their one owner
    by_blob = rows(inventory, "reclaimable", deletions=deletions, by="blob")
    shared = [r for r in by_blob if len(r["repositories"]) > 1]
    assert [r["repositories"] for r in shared] == [["team/app", "team/app-mirror"]] * 3
    assert sum(r["size"] for r in shared) == 620
    assert [r["repositories"] for r in by_blob if r not in shared] == [["team/app"]] * 2


def test_foreign_layers_never_count(inventory: Inventory, scenario: Scenario) -> None:
    assert total(inventory, [("win/app", scenario.digest("img_w"))]) == (680, 3)


def test_a_plan_file(inventory: Inventory, scenario: Scenario, tmp_path: Path) -> None:
    d = scenario.digest
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"actions": [
        {"action": "delete", "registry": REGISTRY, "repository": "team/app", "digest": d("app_v0")},
        {"action": "untag", "registry": REGISTRY, "repository": "team/app", "tag": "v3"},
        {"action": "delete", "registry": REGISTRY, "repository": "team/app", "digest": d("app_v1")},
    ]}))
    got = rows(inventory, "reclaimable", deletions=str(plan), by="repository")
    assert [(r["repository"], r["blobs"], r["size"]) for r in got] == [("team/app", 6, 1215)]


def test_a_table_of_the_connection(inventory: Inventory, scenario: Scenario) -> None:
    con = inventory.connection
    con.execute(
        "CREATE OR REPLACE TEMP TABLE my_deletions AS SELECT registry, repository, digest "
        "FROM tags WHERE repository = 'win/app'"
    )
    assert total(inventory, "my_deletions") == (680, 3)


def test_bad_deletion_sets(inventory: Inventory, tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="deletions.*DELETIONS.*neither a file nor a table"):
        inventory.run_arrow("reclaimable", deletions="no_such_table")
    with pytest.raises(SnapshotError, match="needs parameter deletions"):
        inventory.run_arrow("reclaimable")
    with pytest.raises(SnapshotError, match="digests must be sha256"):
        inventory.run_arrow("reclaimable", deletions=[("team/app", "v1")])
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SnapshotError, match="cannot read plan .*bad.json"):
        inventory.run_arrow("reclaimable", deletions=str(bad))
    with pytest.raises(SnapshotError, match="by.*expected one of blob, repository, registry"):
        inventory.run_arrow("reclaimable", deletions=[], by="tag")


def test_a_child_shared_by_two_indexes_stays(tmp_path: Path) -> None:
    """Deleting one of two indexes that list the same child keeps the child."""
    model = RegistryModel()
    amd = model.image("amd", [model.blob("l-amd", 1000)])
    arm = model.image("arm", [model.blob("l-arm", 2000)], platform=("linux", "arm64", None))
    both = model.index("both", [amd, arm])
    only_amd = model.index("only-amd", [amd])
    model.push("multi", both, "both")
    model.push("multi", only_amd, "amd")
    model.crawl(tmp_path, "c1", dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc))
    with open_inventory(tmp_path) as inv:
        cascade = rows(inv, "cascade", deletions=[("multi", both.digest)])
        assert {r["digest"] for r in cascade} == {both.digest, arm.digest}
        # both 800 + arm 500 + 100 + 2000; amd stays (only-amd lists it)
        assert total(inv, [("multi", both.digest)]) == (3400, 4)
        # deleting both indexes takes every child
        assert {r["digest"] for r in rows(
            inv, "cascade", deletions=[("multi", both.digest), ("multi", only_amd.digest)]
        )} == {both.digest, only_amd.digest, amd.digest, arm.digest}


def _manifest_sets(inv: Inventory) -> dict[str, list[tuple[str, str, str]]]:
    every = [tuple(r) for r in inv.connection.execute(
        "SELECT registry, repository, digest FROM keyed.manifests ORDER BY ALL").fetchall()]
    return {"one": every[:1], "a third": every[::3], "most": every[: len(every) * 3 // 4], "all": every}


@pytest.mark.parametrize("which", ["one", "a third", "most", "all"])
def test_both_ways_of_finding_freed_blobs_agree(inventory: Inventory, which: str) -> None:
    """Counting deleted references and looking for remaining ones give the same blobs."""
    deletions = _manifest_sets(inventory)[which]
    con = inventory.connection
    inventory.run_arrow("cascade", deletions=deletions)  # loads the closure
    found = {}
    for from_kept in (False, True):
        load_freed(con, from_kept=from_kept)
        found[from_kept] = (
            con.execute("SELECT crawl_key, blob_key, size FROM deletion_freed ORDER BY ALL").fetchall(),
            con.execute("SELECT * FROM deletion_freed_repositories ORDER BY ALL").fetchall(),
            # the same set is loaded already: the query groups what load_freed just found
            rows(inventory, "reclaimable", deletions=deletions, by="blob"),
        )
    assert found[False] == found[True]
    assert found[False][0] or which == "one"


def test_deleting_every_manifest_frees_every_stored_blob(inventory: Inventory) -> None:
    """With every revision gone, garbage collection keeps nothing but foreign layers."""
    every = _manifest_sets(inventory)["all"]
    stored = inventory.connection.execute(
        "SELECT sum(size), count(*) FROM keyed.blob_revisions WHERE NOT \"foreign\"").fetchall()[0]
    assert total(inventory, every) == (stored[0], stored[1])
