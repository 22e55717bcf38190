"""The report of a real crawl: the sample set pushed into a real registry, crawled, reported, and
opened in Chromium. The sample's ``team-a/app:2.0.0-rc1`` carries the label
``<script>alert(1)</script>``: the page shows it as text and runs nothing."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import pytest
from report_snapshots import expected_figures

from reginventory.report import Written, generate_report

pytestmark = pytest.mark.needs_registry

XSS_LABEL = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def sample_report(registry: Any, sample_images: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Written]:
    from reginventory.inventory.crawl import crawl
    from reginventory.inventory.crawl_config import CrawlTarget

    data = tmp_path_factory.mktemp("sample-snapshot")
    only_sample = "^(" + "|".join(re.escape(r) for r in sample_images.repositories) + ")$"  # others push here too
    # Playwright's sync API keeps an event loop running in this thread: crawl in another one.
    with ThreadPoolExecutor(1) as pool:
        [result] = pool.submit(crawl, CrawlTarget(registry.url, repo=only_sample), str(data)).result()
    assert result.status == "complete"
    return data, generate_report(data, tmp_path_factory.mktemp("sample-report") / "report.html")


def test_real_crawl_report_figures_equal_the_queries(sample_report: tuple[Path, Written], sample_images: Any) -> None:
    data, written = sample_report
    expected = expected_figures(data)
    shown = {f.key: f.value for f in written.report.headline} | {f.key: f.value for f in written.report.findings}
    for key in ("repositories", "tags", "images", "stored_bytes", "reclaimable_bytes", "untagged", "stale_tags"):
        assert shown[key] == expected[key], key
    assert expected["repositories"] == len(sample_images.repositories)
    assert not written.report.partial and written.report.crawls[0].status == "complete"


def test_real_crawl_report_in_the_browser(
    sample_report: tuple[Path, Written], open_page: Callable[..., Any], artifacts: Path
) -> None:
    data, written = sample_report
    watch = open_page(written.path, viewport={"width": 1280, "height": 900})
    page = watch.page
    assert watch.problems() == [] and watch.dialogs == []
    assert watch.requests == [written.path.resolve().as_uri()]
    section = page.locator("#repo-team-a-app")
    assert XSS_LABEL in section.inner_text()  # shown as text, literally
    assert page.evaluate("document.scripts.length") == 2
    expected = expected_figures(data)
    assert int(page.locator('#summary [data-figure="tags"]').get_attribute("data-value")) == expected["tags"]
    link = page.locator('#repositories-table a[href="#repo-team-a-app"]')
    link.click()
    assert page.evaluate("location.hash") == "#repo-team-a-app"
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(artifacts / "report.png"), full_page=True)
