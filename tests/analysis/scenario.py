"""The hand-made registry that the analysis tests query, with every digest and size known.

One registry, two crawls a week apart. Sizes are chosen so that every sum below can be checked
by hand: layers ``os`` 1000, ``rt`` 2000, ``app0`` 5, ``app1`` 10, ``app2`` 20, ``app4`` 15,
``cli`` 300, ``arm`` 4000, ``cliarm`` 600, ``cliold`` 700, ``x`` 30, ``winapp`` 80 and the
foreign ``win`` 100000; configs 100 (attestations and referrers 2); manifests 500 (indexes
800, attestations 300, referrers 400); attestation payloads 50 and 60, signature and SBOM
payloads 250.

Crawl c1 (2024-01-01)::

    library/os        1 -> os_img [os]
    library/base      1.0, latest -> base [os, rt]
    team/app          v0 -> app_v0 [os, app0]; v1 -> app_v1 [os, rt, app1];
                      v2 -> app_v2 [os, rt, app2]; v3, latest -> app_v3 [os, rt, app2]
    team/app-mirror   v2 -> app_v2
    tools/cli         2.0 -> cli_idx (cli_amd, cli_arm, attestations at_amd, at_arm)
                      2.0-amd64 -> cli_amd; 1.0 -> cli_old_idx (cli_old); cosign sig_cli
    team/signed       x -> img_x [os, x]; cosign sig_x; SBOM referrer sbom_x
    win/app           ltsc -> img_w [win (foreign), winapp]

Between the crawls: team/app v0 is untagged (its manifest stays), tools/cli cli_old_idx is
deleted (its child cli_old stays as an untagged revision), team/signed img_x is deleted (its
signature and SBOM stay, dangling), team/app v4 -> app_v4 [os, rt, app4] is pushed.
Crawl c2 (2024-01-08) is the latest.

The same operations can later be replayed against a real registry and crawled; the expected
rows stay the same (see the module docstring of test_queries.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from benchmarks.synthetic import DOCKER_FOREIGN, Manifest, RegistryModel, cosign_tag
from reginventory.inventory import schema

UTC = dt.timezone.utc
REGISTRY = "registry.test:5000"
C1 = dt.datetime(2024, 1, 1, tzinfo=UTC)
C2 = dt.datetime(2024, 1, 8, tzinfo=UTC)


def day(year: int, month: int, d: int) -> dt.datetime:
    return dt.datetime(year, month, d, tzinfo=UTC)


@dataclass
class Scenario:
    root: Path
    model: RegistryModel
    m: dict[str, Manifest]

    def digest(self, name: str) -> str:
        return self.m[name].digest

    def sig_tag(self, name: str) -> str:
        return cosign_tag(self.m[name].digest)


def build(root: Path) -> Scenario:
    model = RegistryModel(REGISTRY)
    b = model.blob
    os_, rt = b("os", 1000), b("rt", 2000)
    m: dict[str, Manifest] = {}
    m["os_img"] = model.image("os", [os_], created=day(2022, 1, 1))
    m["base"] = model.image("base", [os_, rt], created=day(2023, 1, 1))
    m["app_v0"] = model.image("app-v0", [os_, b("app0", 5)], created=day(2022, 6, 1))
    m["app_v1"] = model.image("app-v1", [os_, rt, b("app1", 10)], created=day(2023, 3, 1))
    m["app_v2"] = model.image("app-v2", [os_, rt, b("app2", 20)], created=day(2023, 9, 1))
    m["app_v3"] = model.image("app-v3", [os_, rt, b("app2", 20)], created=day(2023, 12, 1))
    m["app_v4"] = model.image("app-v4", [os_, rt, b("app4", 15)], created=day(2024, 1, 5))
    m["cli_amd"] = model.image("cli-amd", [os_, b("cli", 300)], created=day(2023, 10, 1))
    m["cli_arm"] = model.image(
        "cli-arm", [b("arm", 4000), b("cliarm", 600)], created=day(2023, 10, 2),
        platform=("linux", "arm64", "v8"),
    )
    m["at_amd"] = model.attestation("at-amd", 50)
    m["at_arm"] = model.attestation("at-arm", 60)
    m["cli_idx"] = model.index(
        "cli-2", [m["cli_amd"], m["cli_arm"]], attestations=[m["at_amd"], m["at_arm"]]
    )
    m["cli_old"] = model.image("cli-old", [os_, b("cliold", 700)], created=day(2022, 1, 1))
    m["cli_old_idx"] = model.index("cli-1", [m["cli_old"]])
    m["img_x"] = model.image("x", [os_, b("x", 30)], created=day(2023, 5, 1))
    m["img_w"] = model.image(
        "w", [b("win", 100000, DOCKER_FOREIGN, foreign=True), b("winapp", 80)],
        created=day(2023, 7, 1), platform=("windows", "amd64", None),
    )

    model.push("library/os", m["os_img"], "1")
    model.push("library/base", m["base"], "1.0", "latest")
    model.push("team/app", m["app_v0"], "v0")
    model.push("team/app", m["app_v1"], "v1")
    model.push("team/app", m["app_v2"], "v2")
    model.push("team/app", m["app_v3"], "v3", "latest")
    model.push("team/app-mirror", m["app_v2"], "v2")
    model.push("tools/cli", m["cli_idx"], "2.0")
    model.push("tools/cli", m["cli_amd"], "2.0-amd64")
    model.push("tools/cli", m["cli_old_idx"], "1.0")
    m["sig_cli"] = model.sign("tools/cli", m["cli_idx"], "sig-cli")
    model.push("team/signed", m["img_x"], "x")
    m["sig_x"] = model.sign("team/signed", m["img_x"], "sig-x")
    m["sbom_x"] = model.push(
        "team/signed", model.referrer("sbom-x", m["img_x"], schema.KIND_SBOM)
    )
    model.push("win/app", m["img_w"], "ltsc")
    model.crawl(root, "c1", C1)

    model.untag("team/app", "v0")
    model.delete("tools/cli", m["cli_old_idx"])
    model.delete("team/signed", m["img_x"])
    model.push("team/app", m["app_v4"], "v4")
    model.crawl(root, "c2", C2)
    return Scenario(root, model, m)
