"""Rendering: one environment with autoescape always on, a self-contained page, safe Markdown."""

from __future__ import annotations

import base64
import html as html_module
import hashlib
import re
from pathlib import Path

import pytest
from jinja2 import StrictUndefined, UndefinedError
from report_snapshots import ERROR_MESSAGE, HTML_TAG, QUOTED_ANNOTATION, XSS_LABEL

from reginventory.report import Written, environment, generate_report, render_markdown
from reginventory.report.render import TEMPLATES_DIR, markdown_code, markdown_text, to_csv


def test_environment_escapes_every_template_and_refuses_undefined() -> None:
    env = environment()
    assert env.autoescape is True  # not select_autoescape: .md.j2 and .j2 are escaped too
    assert env.undefined is StrictUndefined
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"
    with pytest.raises(UndefinedError):
        env.from_string("{{ missing }}").render()
    assert environment() is env  # one environment


def test_templates_never_switch_escaping_off() -> None:
    for path in [*TEMPLATES_DIR.glob("report*.j2"), TEMPLATES_DIR / "report_macros.html.j2"]:
        text = path.read_text()
        assert "|safe" not in text.replace(" ", "") and "autoescape false" not in text, path.name


def test_page_is_self_contained(html_report: Written) -> None:
    html = html_report.path.read_text()
    assert html.count("<script") == 2  # the JSON data block and the page's own script
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # nothing from the network
    assert "@import" not in html and "url(" not in html
    assert '<link rel="icon" href="data:,">' in html


def test_csp_allows_exactly_the_inline_script_and_style(html_report: Written) -> None:
    html = html_report.path.read_text()
    policy = html_module.unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)[1])
    script = re.search(r"<script>(.*?)</script>", html, re.S)[1]
    style = re.search(r"<style>(.*?)</style>", html, re.S)[1]

    def digest(text: str) -> str:
        return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    assert f"script-src '{digest(script)}'" in policy and f"style-src '{digest(style)}'" in policy
    assert policy.startswith("default-src 'none'")


def test_values_from_images_are_escaped(html_report: Written) -> None:
    html = html_report.path.read_text()
    assert XSS_LABEL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "&#34;quoted&#34; &amp; &lt;b&gt;bold&lt;/b&gt;" in html or "&#34;quoted&#34;" in html
    assert QUOTED_ANNOTATION not in html


def test_script_data_goes_through_tojson(html_report: Written) -> None:
    html = html_report.path.read_text()
    data = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)[1]
    assert "<" not in data and '"stale_tags"' in data


def test_markdown_summary(html_report: Written) -> None:
    md = render_markdown(html_report.report, rows=3)
    assert md.startswith("# Registry inventory report\n")
    assert "| Tags |" in md and "**complete**" in md and "`c2`" in md
    assert "## Stale tags (9)" in md and "Top 3, largest first:" in md
    assert XSS_LABEL not in md and "<img" not in md
    for line in md.splitlines():
        if line.startswith("|"):
            assert line.rstrip().endswith("|"), line


def test_markdown_filters_escape() -> None:
    assert markdown_text("<script>a|b</script> *x* (y) #1") == r"\<script\>a\|b\</script\> \*x\* (y) #1"
    assert markdown_code("a|b") == r"`a\|b`"
    assert markdown_code("x`y") == "``x`y``"


def test_partial_markdown_and_errors_escaped(partial_snapshot: Path, tmp_path: Path) -> None:
    written = generate_report(partial_snapshot, tmp_path / "r.md", fmt="md")
    md = written.path.read_text()
    assert "**partial**" in md and "Partial crawl" in md
    assert ERROR_MESSAGE not in md and r"\<b\>boom\</b\>" in md


def test_csv_guards_formulas_and_flattens_lists() -> None:
    import pyarrow as pa

    table = pa.table({"tag": ["=cmd", "ok"], "tags": pa.array([["a", "b"], []], pa.list_(pa.string()))})
    assert to_csv(table).decode().splitlines() == ['"tag","tags"', '"\'=cmd","a b"', '"ok",""']


def test_html_tag_names_are_shown_not_parsed(html_report: Written) -> None:
    assert HTML_TAG not in html_report.path.read_text()
