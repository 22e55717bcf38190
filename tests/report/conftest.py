"""Fixtures of the report tests: hand-made snapshots, reports built once, one browser per session.

The browser is Debian's Chromium (``/usr/bin/chromium``) driven by Playwright; a downloaded
browser is never used. Without Chromium the browser tests skip, unless ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from report_snapshots import partial_crawl, two_crawls  # noqa: E402

from reginventory.report import Written, generate_report  # noqa: E402
from reginventory.report.build import Options  # noqa: E402

CHROMIUM = os.environ.get("REGINVENTORY_CHROMIUM", "/usr/bin/chromium")
#: Flags that keep Chromium quiet on a closed network (see /work/shared/reference/browser-tests.md).
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two crawls of the hand-made registry (read-only: never write into it)."""
    root = tmp_path_factory.mktemp("report-snapshot")
    two_crawls(root)
    return root


@pytest.fixture(scope="session")
def partial_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report-partial")
    partial_crawl(root)
    return root


@pytest.fixture(scope="session")
def html_report(snapshot: Path, tmp_path_factory: pytest.TempPathFactory) -> Written:
    """The HTML report of ``snapshot``; small pages and sections so that paging and anchors show."""
    out = tmp_path_factory.mktemp("report-html") / "report.html"
    return generate_report(snapshot, out, options=Options(sections=3, page_size=5, max_rows=8))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per module: Playwright's sync API keeps an event loop running in
    the main thread while it is open, which later tests calling asyncio.run() must not see."""
    if not (os.access(CHROMIUM, os.X_OK) or shutil.which("chromium")):
        message = f"no Chromium at {CHROMIUM} (Debian package chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class PageWatch:
    """A page and everything it did: console messages, errors, requests, dialogs."""

    page: Any
    console: list[tuple[str, str]]
    errors: list[str]
    requests: list[str]
    dialogs: list[str]

    def problems(self) -> list[str]:
        bad = [f"console {kind}: {text}" for kind, text in self.console if kind in ("error", "warning")]
        return bad + [f"page error: {e}" for e in self.errors] + [f"dialog: {d}" for d in self.dialogs]


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[..., PageWatch]]:
    """Open a local file in a fresh context that blocks (and records) any request off the disk."""
    contexts: list[Any] = []

    def opener(path: Path, **context_options: Any) -> PageWatch:
        context = browser.new_context(**context_options)
        contexts.append(context)

        def route(r: Any) -> None:
            url = r.request.url
            if url.startswith(("file:", "data:", "about:")):
                r.continue_()
            else:
                r.abort()

        context.route("**/*", route)
        page = context.new_page()
        watch = PageWatch(page, [], [], [], [])
        page.on("console", lambda m: watch.console.append((m.type, m.text)))
        page.on("pageerror", lambda e: watch.errors.append(str(e)))
        page.on("request", lambda r: watch.requests.append(r.url))

        def dialog(d: Any) -> None:
            watch.dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", dialog)
        page.goto(path.resolve().as_uri())
        page.wait_for_load_state("load")
        return watch

    yield opener
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
