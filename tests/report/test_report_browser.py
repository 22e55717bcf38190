"""The HTML report in a real browser (Debian's Chromium through Playwright), as a person uses it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from report_snapshots import HTML_TAG, XSS_LABEL, expected_figures

from reginventory.report import Written

Opener = Callable[..., Any]


def test_opens_offline_without_errors_and_shows_the_query_figures(
    html_report: Written, snapshot: Path, open_page: Opener, artifacts: Path
) -> None:
    watch = open_page(html_report.path, viewport={"width": 1280, "height": 900})
    page = watch.page
    assert watch.problems() == []
    assert watch.requests == [html_report.path.resolve().as_uri()]  # nothing else, not even a favicon
    expected = expected_figures(snapshot)
    for key in ("registries", "repositories", "tags", "images", "stored_bytes", "reclaimable_bytes",
                "stale_tags", "untagged", "dangling_referrers", "duplicates"):
        shown = page.locator(f'#summary [data-figure="{key}"]')
        assert int(shown.get_attribute("data-value")) == expected[key], key
        assert shown.is_visible()
    assert page.locator('#summary [data-figure="tags"]').inner_text() == f"{expected['tags']:,}"
    assert "2024-06-01T00:00:00Z" in page.locator("header").inner_text()
    page.screenshot(path=str(artifacts / "report-synthetic.png"), full_page=True)


def test_sorting_a_table_by_clicking_its_header(html_report: Written, open_page: Opener) -> None:
    page = open_page(html_report.path).page
    table = page.locator("#repositories-table")
    header = table.locator("thead th", has_text="Tags").first

    def tag_counts() -> list[int]:
        return [int(t.replace(",", "")) for t in table.locator("tbody tr:not([hidden]) td:nth-child(2)").all_inner_texts()]

    header.locator("button").click()
    first = tag_counts()
    assert header.get_attribute("aria-sort") == "descending" and first == sorted(first, reverse=True)
    header.locator("button").click()
    second = tag_counts()
    assert header.get_attribute("aria-sort") == "ascending" and second == sorted(second) and second != first
    name = table.locator("thead th", has_text="Repository").first
    name.locator("button").click()
    names = table.locator("tbody tr:not([hidden]) td:first-child").all_inner_texts()
    assert names == sorted(names) and name.get_attribute("aria-sort") == "ascending"


def test_paging_and_filtering(html_report: Written, open_page: Opener) -> None:
    page = open_page(html_report.path).page
    section = page.locator("#repositories")
    rows = section.locator("tbody tr:not([hidden])")
    assert rows.count() == 5  # page size 5 in this report
    status = section.locator(".pager .status-text")
    assert status.inner_text().startswith("Rows 1–5 of ")
    section.locator(".pager button.next").click()
    assert status.inner_text().startswith("Rows 6–10 of ")
    section.locator(".controls input[type=search]").fill("svc-07")
    assert rows.count() == 1 and rows.first.inner_text().startswith("team-d/svc-07")


def test_repository_links_lead_to_their_section_or_row(html_report: Written, open_page: Opener) -> None:
    page = open_page(html_report.path).page
    link = page.locator("#repositories-table tbody tr").first.locator("a").first
    target = link.get_attribute("href")
    link.click()
    assert page.evaluate("location.hash") == target
    section = page.locator(target)
    assert section.evaluate("e => e.tagName") == "SECTION" and section.is_visible()
    assert section.locator("h3").inner_text() in link.inner_text()
    box = section.locator("h3").bounding_box()
    assert box is not None and 0 <= box["y"] < 900  # scrolled to it
    # A repository without a section: its link (from the untagged table) reveals its row on another page.
    page.goto(html_report.path.resolve().as_uri() + "#untagged")
    link = page.locator("#untagged-table a").first
    target = link.get_attribute("href")
    row = page.locator(target)
    assert row.evaluate("e => e.tagName") == "TR"
    link.click()
    assert row.is_visible() and page.evaluate("location.hash") == target


def test_hostile_labels_show_literally_and_run_nothing(html_report: Written, open_page: Opener) -> None:
    watch = open_page(html_report.path)
    page = watch.page
    assert XSS_LABEL in page.locator("#repository-details").inner_text()
    assert HTML_TAG in page.locator("#stale_tags").inner_text()
    assert page.evaluate("document.scripts.length") == 2
    assert page.locator("img").count() == 0
    assert watch.dialogs == [] and watch.problems() == []


def test_readable_on_a_phone_and_printable(html_report: Written, open_page: Opener, artifacts: Path) -> None:
    page = open_page(html_report.path, viewport={"width": 390, "height": 844}, is_mobile=True, device_scale_factor=2).page
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # tables scroll inside their box
    page.screenshot(path=str(artifacts / "report-phone.png"))
    page.emulate_media(media="print")
    assert page.locator("nav.toc").is_hidden() and page.locator(".pager").first.is_hidden()
    page.pdf(path=str(artifacts / "report.pdf"), format="A4", print_background=True)
    assert (artifacts / "report.pdf").read_bytes().startswith(b"%PDF")
