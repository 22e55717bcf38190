"""An installed wheel carries the SQL and templates the package reads at run time."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import reginventory
from reginventory.analysis.catalog import QUERIES_DIR
from reginventory.plan.render import REPORTS_DIR
from reginventory.report.render import TEMPLATES_DIR

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(reginventory.__file__).resolve().parent


def package_data() -> dict[str, list[str]]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]


def test_run_time_folders_are_inside_the_package() -> None:
    for folder in (QUERIES_DIR, REPORTS_DIR, TEMPLATES_DIR):
        assert folder.parent == PACKAGE and folder.is_dir(), folder


def test_every_run_time_file_is_package_data() -> None:
    patterns = package_data()
    missing = []
    for path in sorted(PACKAGE.rglob("*")):
        if path.suffix not in (".sql", ".j2", ".css", ".js") or not path.is_file():
            continue
        relative = path.relative_to(PACKAGE)
        covered = False
        for package, globs in patterns.items():
            base = Path(*package.split(".")[1:])
            if relative.is_relative_to(base):
                inner = relative.relative_to(base).as_posix()
                covered = covered or any(fnmatch.fnmatch(inner, g) and inner.count("/") == g.count("/") for g in globs)
        if not covered:
            missing.append(str(relative))
    assert missing == []
