"""Rendering: the one Jinja environment, the HTML and Markdown reports, and the files they make.

The environment escapes every ``{{ value }}`` (autoescape is on unconditionally, whatever the
template's extension: ``select_autoescape`` would leave ``.md.j2`` and ``.j2`` unescaped) and
turns an undefined name into an error (``StrictUndefined``). The Markdown filters escape for
Markdown themselves and return ``Markup`` so that HTML escaping does not apply twice.

The HTML page is one file: its stylesheet and script come from ``reports/`` and are inlined; a
Content-Security-Policy allows exactly that script and stylesheet (by hash) and nothing from the
network, so even an escaping mistake could not run injected script.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import os
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from reginventory.report.build import ReportData
from reginventory.report.model import Report
from reginventory.report.tables import FINDINGS

#: Templates and static assets: ``reports/`` at the project root (like ``queries/``).
TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "reports"  # the link to the top-level reports/
HTML_TEMPLATE = "report.html.j2"
MARKDOWN_TEMPLATE = "report.md.j2"
STYLE_ASSET = "report.css"
SCRIPT_ASSET = "report.js"
#: Rows of each table in the Markdown report (for chat, pull requests and CI logs).
MARKDOWN_ROWS = 10
FORMATS = ("html", "md")
#: Pieces of a CSV file formatted at once (the machine's cores, at most); files are written one at a time.
CSV_THREADS = min(4, os.cpu_count() or 1)
#: Rows of a CSV file formatted as one piece.
CSV_PIECE_ROWS = 100_000
#: Characters that mean something anywhere in a line of Markdown (CommonMark + GFM tables:
#: emphasis, code, links, HTML, entities, cell ends), escaped with a backslash. Templates never
#: start a line with a value, so line-start markers (#, +, -, 1.) need no escaping.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|~&])")
#: Cells starting with these are formulas to a spreadsheet (CSV injection): prefix a quote.
#: First characters that make a spreadsheet run a cell as a formula.
_FORMULA_STARTS = pa.array(["=", "+", "-", "@", "\t", "\r"], pa.string())


@functools.lru_cache(maxsize=4)
def environment(folder: str | None = None) -> Environment:
    """The report's Jinja environment: autoescape always on, undefined names are errors."""
    env = Environment(
        loader=FileSystemLoader(folder or str(TEMPLATES_DIR)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = markdown_text
    env.filters["mdcode"] = markdown_code
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": True}
    return env


def markdown_text(value: Any) -> Markup:
    """Plain text made safe for Markdown: special characters escaped, one line."""
    text = " ".join(str(value).split())
    return Markup(_MD_SPECIAL.sub(r"\\\1", text))


def markdown_code(value: Any) -> Markup:
    """A code span (`tag`), safe inside a GFM table cell."""
    text = " ".join(str(value).split())
    if not text:
        return Markup("")
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    # A pipe ends a table cell even inside a code span; GFM unescapes \| there.
    body = text.replace("|", "\\|")
    return Markup(f"{fence}{pad}{body}{pad}{fence}")


@dataclass(frozen=True)
class Assets:
    """The stylesheet and script inlined in the page, and their CSP hashes."""

    style: Markup
    script: Markup
    style_hash: str
    script_hash: str


def assets(folder: str | None = None) -> Assets:
    root = Path(folder or TEMPLATES_DIR)
    style = (root / STYLE_ASSET).read_text(encoding="utf-8")
    script = (root / SCRIPT_ASSET).read_text(encoding="utf-8")
    if "</" in script or "</" in style:  # would end the inline element early
        raise ValueError("inline assets must not contain '</'")
    return Assets(Markup(style), Markup(script), _csp_hash(style), _csp_hash(script))


def _csp_hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def render_html(report: Report, *, folder: str | None = None) -> str:
    """The self-contained HTML page of a report."""
    page_assets = assets(folder)
    script_data = {
        "tables": {t.id: {"pageSize": t.page_size, "total": t.total} for t in report.tables},
        "generated": report.generated,
    }
    template = environment(folder).get_template(HTML_TEMPLATE)
    return template.render(report=report, assets=page_assets, csp=csp(page_assets), script_data=script_data)


def render_markdown(report: Report, *, rows: int = MARKDOWN_ROWS, folder: str | None = None) -> str:
    """The Markdown summary: headline figures and the top rows of each table."""
    template = environment(folder).get_template(MARKDOWN_TEMPLATE)
    return template.render(report=report, rows=rows)


def files_dir_for(out: Path) -> Path:
    """``reports/weekly.html`` -> ``reports/weekly-files``: where cut tables' CSV files go."""
    return out.with_name(f"{out.stem}-files")


def write_text_atomic(path: Path, text: str) -> None:
    """Write next to the target and rename: a reader never sees half a report."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_csv_files(report: Report, data: ReportData, files_dir: Path) -> list[Path]:
    """The full result of every table the page cut, as ``<files_dir>/<table>.csv``.

    CSV files of this report's tables that a previous run left and this one does not need are
    removed, so that a link never points at stale data.
    """
    drop = {spec.id: spec.csv_drop for spec in FINDINGS}
    wanted = {t.id: t for t in report.tables if t.csv}
    jobs: list[tuple[Path, pa.Table]] = []
    for table_id, table in wanted.items():
        source = data.results.get("changes" if table_id == "changes" else table.query)
        if source is None:
            continue
        source = source.drop_columns([c for c in drop.get(table_id, ()) if c in source.column_names])
        jobs.append((files_dir / f"{table_id}.csv", source))

    # pyarrow formats CSV without holding the GIL: each file is cut into pieces of rows,
    # formatted side by side, then joined in order (only the first piece has the header)
    written = []
    with ThreadPoolExecutor(max_workers=CSV_THREADS) as pool:
        for path, table in jobs:
            starts = range(0, max(table.num_rows, 1), CSV_PIECE_ROWS)
            texts = pool.map(lambda start: to_csv(table.slice(start, CSV_PIECE_ROWS), header=start == 0), starts)
            write_bytes_atomic(path, b"".join(texts))
            written.append(path)
    if files_dir.is_dir():
        for table in report.tables:
            stale = files_dir / f"{table.id}.csv"
            if table.id not in wanted and stale.exists():
                stale.unlink()
        if not any(files_dir.iterdir()):
            files_dir.rmdir()
    return written


def to_csv(table: pa.Table, header: bool = True) -> bytes:
    """A query result as CSV: lists joined by spaces, maps as key=value, times in UTC ISO."""
    columns = {name: _csv_column(table.column(name)) for name in table.column_names}
    out = io.BytesIO()
    pacsv.write_csv(pa.table(columns) if columns else table, out, pacsv.WriteOptions(include_header=header))
    return out.getvalue()


def _csv_column(column: pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    kind = column.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        if pa.types.is_string(kind.value_type):
            return _guard_formula(pc.binary_join(column, " "))
        return pa.array([" ".join(str(v) for v in value or []) for value in column.to_pylist()], pa.string())
    if pa.types.is_map(kind):
        return _guard_formula(
            pa.array([" ".join(f"{k}={v}" for k, v in (value or [])) for value in column.to_pylist()], pa.string())
        )
    if pa.types.is_timestamp(kind):
        # UTC wall time as text, "T" between date and time: strftime is six times slower
        seconds = pc.cast(pc.cast(column, pa.timestamp("s", tz="UTC"), safe=False), pa.timestamp("s"))
        text = pc.replace_substring(pc.cast(seconds, pa.string()), " ", "T")
        return pc.binary_join_element_wise(text, "Z", "")
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _guard_formula(column)
    return column


def _guard_formula(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Prefix a quote to text a spreadsheet would run as a formula (CSV injection)."""
    # the first character against a set: a regular expression per cell is several times slower
    risky = pc.is_in(pc.utf8_slice_codeunits(column, 0, 1), value_set=_FORMULA_STARTS)
    if not pc.any(risky).as_py():
        return column
    return pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column)


def csp(page_assets: Assets) -> str:
    """The page's Content-Security-Policy: its own script and style, nothing from anywhere."""
    return (
        "default-src 'none'; "
        f"script-src '{page_assets.script_hash}'; "
        f"style-src '{page_assets.style_hash}'; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
