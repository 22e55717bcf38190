"""The query catalog: ``queries/*.sql``, one file per question, described by its header comment.

A header is the comment block that opens the file::

    -- stale_tags: tags whose image is older than $days and outside the newest $keep.
    --
    -- Free text: what it finds and how.
    --
    -- Parameters:
    --   days INTEGER = 90: minimum age in days
    --   by VARCHAR = 'blob' {blob|repository}: how to group
    --   deletions DELETIONS: the manifests to delete (no default: required)
    -- Columns:
    --   registry VARCHAR: the registry host

Parsing is pure: :func:`parse_query` turns a file's text into a :class:`Query`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reginventory.errors import SnapshotError

#: The packaged queries: ``queries/`` at the project root.
QUERIES_DIR = Path(__file__).resolve().parents[1] / "queries"  # the link to the top-level queries/

#: Parameter types a header may declare. DELETIONS is a set of (registry, repository, digest)
#: manifests that the runner loads into the ``deletion_closure`` table before the query runs.
PARAM_TYPES = ("VARCHAR[]", "VARCHAR", "INTEGER", "DOUBLE", "BOOLEAN", "TIMESTAMP", "DELETIONS")


class _Now:
    """The default ``now``: the time the query runs."""

    def __repr__(self) -> str:
        return "now"


NOW = _Now()
REQUIRED = object()


@dataclass(frozen=True)
class SnapshotDefault:
    """A default that depends on the opened snapshot: ``selected_crawl``, or
    ``previous_crawl(param)``: the committed crawl just before the one ``param`` names.

    Resolved by the inventory when there is a single registry, else null (the query then
    works it out per registry).
    """

    name: str
    argument: str | None = None

    def __repr__(self) -> str:
        return f"{self.name}({self.argument})" if self.argument else self.name


SNAPSHOT_DEFAULTS = ("selected_crawl", "previous_crawl")

_NAME_LINE = re.compile(r"^--\s*(?P<name>[a-z][a-z0-9_]*)\s*:\s*(?P<summary>.+)$")
_TYPE = "|".join(re.escape(t) for t in PARAM_TYPES)
_PARAM_LINE = re.compile(
    rf"^--\s{{2,}}(?P<name>[a-z_][a-z0-9_]*)\s+(?P<type>{_TYPE})"
    r"(?:\s*=\s*(?P<default>'(?:[^']|'')*'|\[[^\]]*\]|[a-z_]+\([a-z_]+\)|[^\s:{]+))?"
    r"(?:\s*\{(?P<choices>[^}]*)\})?"
    r"\s*:\s*(?P<doc>.*)$"
)
_COLUMN_LINE = re.compile(r"^--\s{2,}(?P<name>[a-z_][a-z0-9_]*)\s+(?P<type>[A-Z][A-Z0-9_ \[\]()]*?)\s*:\s*(?P<doc>.*)$")
_SECTION = re.compile(r"^--\s*(?P<section>Parameters|Columns)\s*:\s*(?P<rest>.*)$")


@dataclass(frozen=True)
class Param:
    """One named parameter of a query."""

    name: str
    type: str
    default: Any = REQUIRED
    doc: str = ""
    choices: tuple[str, ...] = ()

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def describe(self) -> str:
        text = f"{self.name} {self.type}"
        if not self.required:
            text += f" = {_show_default(self.default)}"
        else:
            text += " (required)"
        if self.choices:
            text += " {" + "|".join(self.choices) + "}"
        return text


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    doc: str = ""


@dataclass(frozen=True)
class Query:
    """A query file: its name, description, parameters, documented columns and SQL."""

    name: str
    summary: str
    description: str
    params: tuple[Param, ...]
    columns: tuple[Column, ...]
    sql: str
    path: Path | None = None
    uses: frozenset[str] = field(default_factory=frozenset)
    keyed: frozenset[str] = field(default_factory=frozenset)
    history_keyed: frozenset[str] = field(default_factory=frozenset)  # read across crawls

    def param(self, name: str) -> Param:
        for param in self.params:
            if param.name == name:
                return param
        known = ", ".join(p.describe() for p in self.params) or "none"
        raise SnapshotError(f"query {self.name} has no parameter {name!r}; its parameters: {known}")


def parse_default(text: str, type_: str) -> Any:
    """The Python value of a header default literal."""
    lowered = text.lower()
    if lowered == "null":
        return None
    if lowered == "now" and type_ == "TIMESTAMP":
        return NOW
    call = re.fullmatch(r"([a-z_]+)(?:\(([a-z_]+)\))?", text)
    if call and call[1] in SNAPSHOT_DEFAULTS:
        return SnapshotDefault(call[1], call[2])
    if text.startswith("'") and text.endswith("'"):
        return text[1:-1].replace("''", "'")
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return [parse_default(part.strip(), "VARCHAR") for part in inner.split(",")] if inner else []
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError as exc:
        raise ValueError(f"cannot read default {text!r}") from exc


def parse_query(name: str, text: str, path: Path | None = None) -> Query:
    """Parse a query file: the header comment, then the SQL."""
    where = str(path or name)
    lines = text.splitlines()
    header: list[str] = []
    for line in lines:
        if not line.startswith("--"):
            break
        header.append(line.rstrip())
    if not header:
        raise SnapshotError(f"{where}: no header comment")
    first = _NAME_LINE.match(header[0])
    if not first or first["name"] != name:
        raise SnapshotError(f"{where}: the first line must be '-- {name}: what it finds'")
    description: list[str] = []
    params: list[Param] = []
    columns: list[Column] = []
    section = ""
    for number, line in enumerate(header[1:], start=2):
        match = _SECTION.match(line)
        if match:
            section = match["section"]
            continue
        body = line[2:]
        if not section:
            description.append(body.strip())
            continue
        if not body.strip() or body.strip() == "(none)":
            continue
        if section == "Parameters":
            m = _PARAM_LINE.match(line)
            if m:
                default: Any = REQUIRED
                if m["default"] is not None:
                    try:
                        default = parse_default(m["default"], m["type"])
                    except ValueError as exc:
                        raise SnapshotError(f"{where}:{number}: {exc}") from None
                choices = tuple(c.strip() for c in (m["choices"] or "").split("|") if c.strip())
                params.append(Param(m["name"], m["type"], default, m["doc"].strip(), choices))
                continue
        else:
            m = _COLUMN_LINE.match(line)
            if m:
                columns.append(Column(m["name"], m["type"].strip(), m["doc"].strip()))
                continue
        if body.startswith("    ") and (params or columns):
            _extend_doc(params if section == "Parameters" else columns, body.strip())
            continue
        raise SnapshotError(f"{where}:{number}: cannot read {section.lower()} line {line!r}")
    sql = "\n".join(lines[len(header):]).strip()
    if not sql:
        raise SnapshotError(f"{where}: no SQL after the header")
    uses = frozenset(re.findall(r"\$([a-z_][a-z0-9_]*)", sql))
    keyed = frozenset(re.findall(r"(?<![a-z_])(?:history_)?keyed\.([a-z_]+)", sql))
    history_keyed = frozenset(re.findall(r"(?<![a-z_])history_keyed\.([a-z_]+)", sql))
    return Query(
        name=name,
        summary=first["summary"].strip(),
        description="\n".join(description).strip(),
        params=tuple(params),
        columns=tuple(columns),
        sql=sql,
        path=path,
        uses=uses,
        keyed=keyed,
        history_keyed=history_keyed,
    )


def _extend_doc(items: list[Any], more: str) -> None:
    last = items[-1]
    items[-1] = type(last)(**{**last.__dict__, "doc": f"{last.doc} {more}".strip()})


def _show_default(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, SnapshotDefault):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value) if isinstance(value, list) else str(value)


class Catalog:
    """The queries of a folder, by name."""

    def __init__(self, folder: Path | str | None = None) -> None:
        self.folder = Path(folder) if folder is not None else QUERIES_DIR
        if not self.folder.is_dir():
            raise SnapshotError(f"no query folder at {self.folder}")
        self._queries: dict[str, Query] = {}
        for path in sorted(self.folder.glob("*.sql")):
            self._queries[path.stem] = parse_query(path.stem, path.read_text(), path)

    def names(self) -> list[str]:
        return sorted(self._queries)

    def queries(self) -> list[Query]:
        return [self._queries[n] for n in self.names()]

    def get(self, name: str) -> Query:
        try:
            return self._queries[name]
        except KeyError:
            raise SnapshotError(
                f"unknown query {name!r}; available queries: {', '.join(self.names())}"
            ) from None
