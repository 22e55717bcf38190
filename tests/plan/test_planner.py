"""The planner on hand-made snapshots: rule semantics and every safety rule of the issue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from synthetic import EPOCH, RegistryModel

from reginventory.analysis import open_inventory
from reginventory.inventory import schema
from reginventory.plan import make_plan, parse_policy, write_plan
from reginventory.plan.planfile import checksum, seal

from .conftest import NOW, action_for, days_ago, deleted, untagged
from .test_policy import ISSUE_EXAMPLE

PlanOf = Callable[..., dict[str, Any]]


def _image(model: RegistryModel, name: str, age_days: float | None, size: int = 1000):
    created = days_ago(age_days) if age_days is not None else None
    return model.image(name, [model.blob(f"layer:{name}", size)], created=created)


def test_issue_example_team_repository(plan_of: PlanOf) -> None:
    model = RegistryModel()
    ages = {"v1.0.0": 400, "main": 300, "pr-1": 200, "pr-2": 150, "feature-x": 120, "pr-3": 100, "pr-4": 5, "pr-5": 3,
            "pr-6": 1}
    images = {tag: model.push("team-a/app", _image(model, tag, age), tag) for tag, age in ages.items()}
    model.push("team-a/app", images["pr-6"], "latest")
    plan = plan_of(model, ISSUE_EXAMPLE)
    # rule 1 selects every team tag; it keeps the 3 newest tags (latest and pr-6, one image, and pr-5)
    # latest is protected. Everything else goes, whatever its age.
    gone = {a["tags"][0] for a in plan["actions"] if a["action"] == "delete"}
    assert gone == {"pr-1", "pr-2", "pr-3", "pr-4", "feature-x"}
    assert not untagged(plan)
    kept = {k["tag"]: k["reason"] for k in plan["kept"]}
    assert kept["v1.0.0"].startswith("rules[1]: keep_tags") and kept["main"].startswith("rules[1]: keep_tags")
    assert kept["latest"] == "protected tag" and "newest 3" in kept["pr-5"]


def test_issue_example_ci_rule_elsewhere(plan_of: PlanOf) -> None:
    model = RegistryModel()
    for tag, age in {"pr-1": 91, "pr-2": 89, "sha-0af3": 200, "feature-y": 365, "1.0": 500, "latest": 400}.items():
        model.push("ops/tool", _image(model, tag, age), tag)
    plan = plan_of(model, ISSUE_EXAMPLE)
    gone = {a["tags"][0] for a in plan["actions"] if a["action"] == "delete"}
    assert gone == {"pr-1", "sha-0af3", "feature-y"}
    assert all(a["rule"] == "rules[2]" for a in plan["actions"])


def test_age_falls_back_to_first_seen(tmp_path: Path, plan_of: PlanOf) -> None:
    model = RegistryModel()
    old = model.image("old", [model.blob("a", 10)], created=None)
    epoch = model.image("epoch", [model.blob("b", 10)], created=EPOCH.replace(year=1970, month=1, day=1))
    model.push("ci/app", old, "pr-1")
    model.push("ci/app", epoch, "pr-2")
    root = tmp_path / "snap"
    model.crawl(root, "c0", days_ago(100))  # both first seen 100 days ago
    model.crawl(root, "c1", NOW)
    plan = plan_of(model, "[[rules]]\nrepositories = '.*'\nolder_than_days = 90\n", root=root)
    assert {a["tags"][0] for a in plan["actions"]} == {"pr-1", "pr-2"}
    fresh = RegistryModel()
    fresh.push("ci/app", fresh.image("new", [fresh.blob("c", 10)], created=None), "pr-3")
    assert plan_of(fresh, "[[rules]]\nrepositories = '.*'\nolder_than_days = 90\n")["actions"] == []


def test_digest_deleted_only_when_every_tag_is_selected(plan_of: PlanOf) -> None:
    model = RegistryModel()
    shared = model.push("team-b/api", _image(model, "shared", 200), "pr-7", "v2.0.0")
    alone = model.push("team-b/api", _image(model, "alone", 200), "pr-8", "pr-9")
    plan = plan_of(model, ISSUE_EXAMPLE.replace("keep_newest = 3", "keep_newest = 0"))
    assert untagged(plan) == {("team-b/api", "pr-7")}
    assert deleted(plan) == {("team-b/api", alone.digest)}
    assert action_for(plan, alone.digest)["tags"] == ["pr-8", "pr-9"]
    untag = next(a for a in plan["actions"] if a["action"] == "untag")
    assert untag["digest"] == shared.digest and "v2.0.0 stays" in untag["note"]


def test_protect_wins_over_everything(plan_of: PlanOf) -> None:
    model = RegistryModel()
    model.push("x/app", _image(model, "a", 500), "latest", "stable")
    model.push("x/app", _image(model, "b", 500), "old")
    plan = plan_of(model, "[protect]\ntags = '^latest$'\n[[rules]]\nrepositories = '.*'\n")
    assert untagged(plan) == {("x/app", "stable")}
    assert len(deleted(plan)) == 1
    plan = plan_of(model, "[protect]\nrepositories = '^x/'\n[[rules]]\nrepositories = '.*'\n")
    assert plan["actions"] == [] and {k["reason"] for k in plan["kept"]} == {"protected repository"}


def test_keep_younger_than_days_and_keep_newest_per_filter(plan_of: PlanOf) -> None:
    model = RegistryModel()
    for tag, age in {"pr-1": 10, "pr-2": 20, "pr-3": 30, "main": 1}.items():
        model.push("svc/a", _image(model, tag, age), tag)
    policy = "[[rules]]\nrepositories = '.*'\ndelete_tags = '^pr-'\nkeep_newest = 1\nkeep_younger_than_days = 15\n"
    plan = plan_of(model, policy)
    # pr-1 is the newest pr- tag (main does not count: not matched by delete_tags)
    assert {a["tags"][0] for a in plan["actions"]} == {"pr-2", "pr-3"}
    plan = plan_of(model, policy.replace("keep_newest = 1", "keep_newest = 0").replace("15", "25"))
    assert {a["tags"][0] for a in plan["actions"]} == {"pr-3"}


def _multi(model: RegistryModel, name: str, age: float):
    amd = model.image(f"{name}-amd64", [model.blob(f"{name}-l1", 500)], created=days_ago(age))
    arm = model.image(f"{name}-arm64", [model.blob(f"{name}-l2", 600)], created=days_ago(age), platform=("linux", "arm64", "v8"))
    att = model.attestation(f"{name}-att")
    return model.index(name, [amd, arm], attestations=[att]), amd, arm, att


def test_index_deletion_deletes_children_after_the_index(plan_of: PlanOf) -> None:
    model = RegistryModel()
    index, amd, arm, att = _multi(model, "m1", 200)
    model.push("team-c/multi", index, "pr-1")
    plan = plan_of(model, "[[rules]]\nrepositories = '.*'\n")
    ids = {a["digest"]: a for a in plan["actions"]}
    assert set(ids) == {index.digest, amd.digest, arm.digest, att.digest}
    parent = ids[index.digest]
    for child in (amd, arm, att):
        action = ids[child.digest]
        assert action["rule"] == f"child of {index.digest}" and action["after"] == [parent["id"]]
        assert action["id"] > parent["id"] and action["group"] == parent["id"]


def test_children_of_a_kept_index_are_never_deleted(plan_of: PlanOf) -> None:
    model = RegistryModel()
    index, amd, arm, att = _multi(model, "m2", 200)
    model.push("team-c/multi", index, "v1.0.0")
    model.push("team-c/multi", amd, "pr-1-amd64")  # a child tagged on its own, selected
    plan = plan_of(model, "[[rules]]\nrepositories = '.*'\ndelete_tags = '^pr-'\n")
    assert deleted(plan) == set()
    assert untagged(plan) == {("team-c/multi", "pr-1-amd64")}
    (untag,) = plan["actions"]
    assert f"held by {index.digest}" in untag["note"]
    # untagged cleanup never touches children (of any present index) or attestations
    plan = plan_of(model, "untagged = true\n[[rules]]\nrepositories = '^none$'\n")
    assert plan["actions"] == []


def test_child_shared_with_a_remaining_index_stays(plan_of: PlanOf) -> None:
    model = RegistryModel()
    amd = model.image("shared-amd64", [model.blob("s1", 500)], created=days_ago(300))
    arm = model.image("arm-a", [model.blob("s2", 500)], created=days_ago(300), platform=("linux", "arm64", None))
    arm2 = model.image("arm-b", [model.blob("s3", 500)], created=days_ago(1), platform=("linux", "arm64", None))
    old = model.index("old", [amd, arm])
    new = model.index("new", [amd, arm2])
    model.push("team-d/app", old, "pr-1")
    model.push("team-d/app", new, "v2.0.0")
    plan = plan_of(model, "[[rules]]\nrepositories = '.*'\nkeep_tags = '^v'\n")
    assert deleted(plan) == {("team-d/app", old.digest), ("team-d/app", arm.digest)}


def test_referrers_go_with_their_subject_and_first(plan_of: PlanOf) -> None:
    model = RegistryModel()
    image = model.push("team-e/app", _image(model, "signed", 300), "pr-1")
    signature = model.sign("team-e/app", image, "sig1")
    sbom = model.push("team-e/app", model.referrer("sbom1", image, schema.KIND_SBOM))
    plan = plan_of(model, "[[rules]]\nrepositories = '.*'\n")
    subject = action_for(plan, image.digest)
    sig_action, sbom_action = action_for(plan, signature.digest), action_for(plan, sbom.digest)
    assert sig_action["tags"] == [image.digest.replace(":", "-") + ".sig"]
    assert sig_action["rule"] == f"referrer of {image.digest}" == sbom_action["rule"]
    assert sorted(subject["after"]) == sorted([sig_action["id"], sbom_action["id"]])
    assert sig_action["id"] < subject["id"] and sbom_action["id"] < subject["id"]
    # the policy may keep them: they are left behind (dangling) and the image still goes
    plan = plan_of(model, "delete_referrers = false\n[[rules]]\nrepositories = '.*'\n")
    assert deleted(plan) == {("team-e/app", image.digest)}


def test_legacy_cosign_tags_go_with_their_subject_only(plan_of: PlanOf) -> None:
    """Signatures and attestations without ``subject``, found only by their ``sha256-<hex>.sig``
    / ``.att`` tags: deleted with their image, kept with a kept one, never selected by a rule."""
    model = RegistryModel()
    gone = model.push("team-l/app", _image(model, "gone", 300), "pr-1")
    kept = model.push("team-l/app", _image(model, "kept", 300), "v1.0.0")
    legacy = {}
    for subject in (gone, kept):
        for suffix in ("sig", "att"):
            tag = subject.digest.replace(":", "-") + "." + suffix
            legacy[tag] = model.push("team-l/app", _image(model, f"{suffix}-of-{subject.digest}", 100), tag)
    plan = plan_of(model, "[[rules]]\nrepositories = '.*'\ndelete_tags = '.*'\nkeep_tags = '^v'\n")
    gone_tags = {gone.digest.replace(":", "-") + s for s in (".sig", ".att")}
    assert deleted(plan) == {("team-l/app", gone.digest)} | {("team-l/app", legacy[t].digest) for t in gone_tags}
    subject = action_for(plan, gone.digest)
    for tag in gone_tags:
        action = action_for(plan, legacy[tag].digest)
        assert action["tags"] == [tag] and action["rule"] == f"referrer of {gone.digest}"
        assert action["id"] in subject["after"]
    assert untagged(plan) == set()  # the kept image's cosign tags are not touched


def test_a_kept_referrer_keeps_its_subject(plan_of: PlanOf) -> None:
    model = RegistryModel()
    image = model.push("team-f/app", _image(model, "subject", 300), "pr-1")
    model.push("team-f/app", model.referrer("sbom-kept", image, schema.KIND_SBOM), "sbom-v1.0.0")
    plan = plan_of(model, "[[rules]]\nrepositories = '.*'\nkeep_tags = '^sbom-'\n")
    assert deleted(plan) == set()
    assert untagged(plan) == {("team-f/app", "pr-1")}


def test_untagged_and_dangling_referrers(plan_of: PlanOf) -> None:
    model = RegistryModel()
    kept = model.push("team-g/app", _image(model, "kept", 1), "v1.0.0")
    model.push("team-g/app", model.referrer("kept-sbom", kept, schema.KIND_SBOM))  # subject present
    lost = model.push("team-g/app", _image(model, "lost", 100), "old")
    model.untag("team-g/app", "old")  # untagged now
    gone = model.push("team-g/app", _image(model, "gone", 100), "gone")
    orphan = model.sign("team-g/app", gone, "orphan-sig")
    model.delete("team-g/app", gone)  # its signature dangles
    plan = plan_of(model, "[[rules]]\nrepositories = '^none$'\n")
    assert plan["actions"] == []
    plan = plan_of(model, "untagged = true\ndangling_referrers = true\n[[rules]]\nrepositories = '^none$'\n")
    assert deleted(plan) == {("team-g/app", lost.digest), ("team-g/app", orphan.digest)}
    assert action_for(plan, lost.digest)["rule"] == "untagged"
    assert action_for(plan, orphan.digest)["rule"] == f"dangling referrer of {gone.digest}"


def test_bytes_add_up_to_the_reclaimable_query(plan_of: PlanOf, tmp_path: Path) -> None:
    model = RegistryModel()
    base = model.blob("base", 10_000)
    for n in range(4):
        image = model.image(f"i{n}", [base, model.blob(f"own{n}", 1000 + n)], created=days_ago(200 - n))
        model.push("team-h/app", image, f"pr-{n}")
    model.push("other/app", model.image("keeps-base", [base], created=days_ago(1)), "v1.0.0")
    index, *_ = _multi(model, "m3", 200)
    model.push("team-h/multi", index, "pr-9")
    root = tmp_path / "snap"
    model.crawl(root, "c1", NOW)
    plan = plan_of(model, "[[rules]]\nrepositories = '^team-h/'\n", root=root)
    deletes = [a for a in plan["actions"] if a["action"] == "delete"]
    assert plan["reclaimable_bytes"] == sum(a["bytes"] for a in deletes)
    # the shared base layer is still used by other/app: not reclaimable
    own = sum(1000 + n + 100 + 500 for n in range(4))  # own layer + config + manifest
    multi = 500 + 600 + 1000 + 100 + 100 + 2 + 500 + 500 + 300 + 800  # layers, configs, manifests
    assert plan["reclaimable_bytes"] == own + multi
    path = write_plan(plan, tmp_path / "plan.json")
    with open_inventory(root) as inv:
        table = inv.run("reclaimable", deletions=str(path), by="registry")
    assert int(table["size"].sum()) == plan["reclaimable_bytes"]


def test_plans_are_deterministic(tmp_path: Path) -> None:
    model = RegistryModel()
    for n in range(6):
        image = model.push("team-i/app", _image(model, f"d{n}", 100 + n), f"pr-{n}")
        if n % 2:
            model.sign("team-i/app", image, f"sig-d{n}")
    root = tmp_path / "snap"
    model.crawl(root, "c1", NOW)
    plans = []
    for _ in range(2):
        with open_inventory(root) as inv:
            plans.append(seal(make_plan(inv, parse_policy(ISSUE_EXAMPLE), now=NOW)))
    assert plans[0] == plans[1] and plans[0]["checksum"] == checksum(plans[1])
    assert json.dumps(plans[0], sort_keys=True) == json.dumps(plans[1], sort_keys=True)
    assert plans[0]["crawl_id"] == "c1" and plans[0]["policy"]["sha256"].startswith("sha256:")


def test_copy_actions(plan_of: PlanOf) -> None:
    model = RegistryModel()
    image = model.push("team-j/app", _image(model, "c1", 10), "v1.0.0", "stable")
    model.push("team-j/app", _image(model, "c2", 10), "pr-1")
    plan = plan_of(
        model,
        "[[copy]]\nrepositories = '^team-j/'\ntags = '^(v|stable)'\ndestination = 'backup:5000'\n"
        "destination_repository = 'mirror/{repository}'\n",
    )
    (copy,) = plan["actions"]
    assert copy["action"] == "copy" and copy["digest"] == image.digest and copy["tags"] == ["stable", "v1.0.0"]
    assert copy["destination_registry"] == "backup:5000" and copy["destination_repository"] == "mirror/team-j/app"
    assert plan["reclaimable_bytes"] == 0
