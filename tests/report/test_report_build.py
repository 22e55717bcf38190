"""The view model: headline figures equal the query results; tables, sections and anchors."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from report_snapshots import HTML_TAG, REGISTRY, XSS_LABEL, expected_figures

from reginventory.analysis import open_inventory
from reginventory.report import Options, Written, build, collect, reclaimable_for_policy
from reginventory.report.policy import default_deletions


def test_headline_figures_equal_the_queries(html_report: Written, snapshot: Path) -> None:
    expected = expected_figures(snapshot)
    report = html_report.report
    shown = {f.key: f.value for f in report.headline} | {f.key: f.value for f in report.findings}
    for key in ("registries", "repositories", "tags", "images", "stored_bytes", "reclaimable_bytes",
                "stale_tags", "untagged", "dangling_referrers", "duplicates"):
        assert shown[key] == expected[key], key
        if key != "registries":
            assert report.metrics[key] == expected[key], key
    assert expected["untagged"] == 1 and expected["dangling_referrers"] == 1 and expected["reclaimable_bytes"] > 0


def test_change_since_the_previous_crawl(html_report: Written, snapshot: Path) -> None:
    before, after = expected_figures(snapshot, "c1"), expected_figures(snapshot, "c2")
    figures = {f.key: f for f in html_report.report.headline}
    assert figures["tags"].delta == f"{after['tags'] - before['tags']:+,}"
    assert figures["stored_bytes"].delta_title.startswith(f"{after['stored_bytes'] - before['stored_bytes']:+,} bytes")
    assert "c1" in html_report.report.change_note and "1 tag added" in html_report.report.change_note
    changes = html_report.report.table("changes")
    assert {row.cells[0].text for row in changes.rows} >= {"team-a/app", "team-b/old"}


def test_crawl_time_and_status_are_stated(html_report: Written) -> None:
    [crawl] = html_report.report.crawls
    assert (crawl.crawl_id, crawl.started, crawl.status, crawl.partial) == ("c2", "2024-06-01T00:00:00Z", "complete", False)
    assert crawl.previous_id == "c1" and not html_report.report.partial


def test_partial_crawl_is_flagged_with_its_errors(partial_snapshot: Path, tmp_path: Path) -> None:
    from reginventory.report import generate_report

    written = generate_report(partial_snapshot, tmp_path / "r.html")
    report = written.report
    assert report.partial and report.metrics["partial"] and report.metrics["errors"] == 2
    errors = report.table("errors")
    assert errors.total == 2 and any("<b>boom</b>" in c.text for row in errors.rows for c in row.cells)
    assert "first crawl" in report.change_note


def test_tables_are_cut_to_the_page_with_the_full_data_in_csv(html_report: Written, snapshot: Path) -> None:
    stale = html_report.report.table("stale_tags")
    assert stale.total > stale.shown == 8 and stale.csv == "report-files/stale_tags.csv"
    sizes = [row.cells[5].sort for row in stale.rows]  # largest first
    assert sizes == sorted(sizes, reverse=True)
    csv = (html_report.path.parent / stale.csv).read_text()
    assert len(csv.strip().splitlines()) == stale.total + 1
    assert (html_report.path.parent / "report-files").is_dir()
    untagged = html_report.report.table("untagged")
    assert not untagged.cut and untagged.csv == ""
    assert not (html_report.path.parent / "report-files" / "untagged.csv").exists()


def test_csv_files_written_in_pieces_equal_one_piece(
    snapshot: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows formatted in pieces on several threads join into the same file, header once."""
    from reginventory.report import render

    with open_inventory(snapshot) as inv:
        data = collect(inv)
    report = build(data, Options(max_rows=2))
    whole = {p.name: p.read_bytes() for p in render.write_csv_files(report, data, tmp_path / "one")}
    monkeypatch.setattr(render, "CSV_PIECE_ROWS", 2)
    pieces = {p.name: p.read_bytes() for p in render.write_csv_files(report, data, tmp_path / "many")}
    assert pieces == whole and whole
    stale = whole["stale_tags.csv"].decode().splitlines()
    assert len(stale) > 3 and stale.count(stale[0]) == 1  # several pieces, one header


def test_repository_sections_and_anchors(html_report: Written) -> None:
    report = html_report.report
    sections = report.repo_sections
    assert len(sections) == 3
    repositories = report.table("repositories")
    first = repositories.rows[0]
    assert first.cells[0].href == f"#{sections[0].anchor}" and first.anchor == ""
    # Beyond the sections, a repository is anchored on its own row, without a self-link.
    rest = repositories.rows[3:]
    assert rest and all(row.anchor.startswith("repo-") and not row.cells[0].href for row in rest)
    # Other tables link repositories to their anchor.
    untagged = report.table("untagged")
    assert untagged.rows[0].cells[0].href == "#repo-team-b-old"


def test_labels_and_hostile_tag_names_reach_the_model_as_plain_text(html_report: Written) -> None:
    app = next(s for s in html_report.report.repo_sections if s.repository == "team-a/app")
    texts = [item for row in app.tags.rows for c in row.cells for item in (c.items or (c.text,))]
    assert f"org.opencontainers.image.description={XSS_LABEL}" in texts
    stale = html_report.report.table("stale_tags")
    assert HTML_TAG in [row.cells[1].text for row in stale.rows]
    assert html_report.report.registries == (REGISTRY,)


def test_reclaimable_for_policy_defaults_to_the_default_policy(snapshot: Path, html_report: Written) -> None:
    with open_inventory(snapshot) as inv:
        assert reclaimable_for_policy(inv, None) == html_report.report.metrics["reclaimable_bytes"]


def test_default_deletions_keep_digests_with_a_tag_that_is_not_stale() -> None:
    stale = pa.table({
        "registry": ["r", "r"], "repository": ["a", "a"], "digest": ["sha256:1", "sha256:2"],
        "kept_tags": pa.array([[], ["latest"]], pa.list_(pa.string())),
    })
    untagged = pa.table({"registry": ["r"], "repository": ["b"], "digest": ["sha256:3"]})
    rows = sorted(default_deletions(untagged, stale).to_pylist(), key=lambda r: r["digest"])
    assert [r["digest"] for r in rows] == ["sha256:1", "sha256:3"]


def test_policy_file_goes_through_the_planner(snapshot: Path, tmp_path: Path) -> None:
    plan = pytest.importorskip("reginventory.plan")
    if not hasattr(plan, "plan_from_policy") and not hasattr(plan, "make_plan"):
        pytest.skip("the planner cannot plan from a policy yet")
    policy = tmp_path / "policy.toml"
    policy.write_text("untagged = true\n")
    with open_inventory(snapshot) as inv:
        planned = reclaimable_for_policy(inv, policy)
        untagged = inv.run_arrow("untagged").select(["registry", "repository", "digest"]).to_pylist()
        freed = inv.run_arrow("reclaimable", deletions=untagged, by="registry")
    assert planned == int(pc.sum(freed.column("size")).as_py() or 0) > 0


def test_crawl_totals_cache_is_reused_and_checked(snapshot: Path, tmp_path: Path) -> None:
    from reginventory.report import generate_report
    from reginventory.report.cache import load_totals

    out = tmp_path / "r.html"
    first = generate_report(snapshot, out)
    cache = tmp_path / "r-files" / "crawl-totals.json"
    cached = load_totals(cache, str(snapshot))
    assert set(cached) == {"registry.test:5000 c1", "registry.test:5000 c2"}
    # A cached figure is trusted (crawls never change): doctor one to see it used.
    text = cache.read_text().replace(f'"tags": {cached["registry.test:5000 c1"]["tags"]}', '"tags": 1000')
    cache.write_text(text)
    second = generate_report(snapshot, out)
    assert [f.delta for f in second.report.headline if f.key == "tags"] == [f"{33 - 1000:+,}"]
    assert [f.value for f in second.report.headline if f.key == "tags"] == [33]
    assert load_totals(cache, "elsewhere") == {}  # another snapshot source: ignored
    assert first.report.metrics["tags"] == 33


def test_two_registries_in_one_report(tmp_path: Path) -> None:
    import datetime as dt

    from report_snapshots import T0
    from synthetic import RegistryModel

    from reginventory.report import Options, generate_report

    root = tmp_path / "snapshots"
    for host in ("a.example:5000", "b.example:5000"):
        m = RegistryModel(host)
        m.push("team/app", m.image(f"{host}-app", [m.blob(f"{host}-layer", 1000)], created=T0 - dt.timedelta(days=1)), "1.0")
        m.crawl(root, f"{host[0]}1", T0)
    written = generate_report(root, tmp_path / "r.html", options=Options(sections=1))
    report = written.report
    assert report.registries == ("a.example:5000", "b.example:5000") and len(report.crawls) == 2
    repositories = report.table("repositories")
    assert [c.label for c in repositories.columns][:2] == ["Registry", "Repository"]
    anchors = {row.anchor or row.cells[1].href.lstrip("#") for row in repositories.rows}
    assert anchors == {"repo-a-example-5000-team-app", "repo-b-example-5000-team-app"}
    assert len(next(c for c in report.charts if c.id == "chart-growth-size").series) == 2
