"""Deletion sets: the manifests a plan would delete, and the cascade that goes with them.

A deletion set is a set of ``(registry, repository, digest)`` manifest revisions. It can come
from a plan JSON file (its ``actions`` with ``"action": "delete"``), a Parquet or CSV file, a
table or view of the connection, a list of dicts or tuples, a pandas DataFrame or an Arrow table.
``registry`` may be left out when the inventory holds a single registry.

The cascade (:func:`expand_deletions`) adds what deleting those manifests drags along on CNCF
distribution, until nothing more is added:

1. each child of a deleted index, in the same repository, that no tag points at and that no
   remaining index of that repository references. Deleting an index leaves its children as
   untagged revisions that keep their blobs, so a plan must delete them too;
2. each referrer (signature, attestation, SBOM) in the same repository whose subject is deleted.

The result is the ``deletion_closure`` table, one row per manifest with its ``reason``
(``requested``, ``index child``, ``referrer``) and its ``cause`` (the index or subject digest).
The ``cascade`` query lists it; :func:`load_freed` works out the blobs it frees
(``deletion_freed``), which ``reclaimable`` groups. Planners should delete
exactly the rows of the ``cascade`` query.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from reginventory.analysis.names import (
    DELETION_CLOSURE, DELETION_DELTA, DELETION_FREED, DELETION_STEP, SQL_DIR,
)
from reginventory.errors import SnapshotError

COLUMNS = ("registry", "repository", "digest")
DELETION_SCHEMA = pa.schema([(c, pa.string()) for c in COLUMNS])
#: The cascade follows index -> child and subject -> referrer edges; content addressing makes
#: them acyclic, so this bound is only a guard against a corrupt snapshot.
MAX_CASCADE_STEPS = 64
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def read_plan(path: Path) -> list[dict[str, Any]]:
    """The delete actions of a plan JSON file."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SnapshotError(f"cannot read plan {path}: {exc}") from exc
    actions = data.get("actions") if isinstance(data, dict) else data
    if not isinstance(actions, list):
        raise SnapshotError(f"plan {path}: expected an object with an 'actions' list")
    rows = []
    for number, action in enumerate(actions):
        if not isinstance(action, dict):
            raise SnapshotError(f"plan {path}: action {number} is not an object")
        if action.get("action", "delete") != "delete":
            continue
        if not action.get("repository") or not action.get("digest"):
            raise SnapshotError(f"plan {path}: delete action {number} lacks repository or digest")
        rows.append({c: action.get(c) for c in COLUMNS})
    return rows


def to_table(
    value: Any,
    *,
    con: duckdb.DuckDBPyConnection,
    registries: Iterable[str],
    name: str = "deletions",
) -> pa.Table:
    """Any accepted form of a deletion set as an Arrow table of registry, repository, digest."""
    where = f"parameter {name} (DELETIONS)"
    table: pa.Table
    if isinstance(value, (str, Path)):
        path = Path(value)
        if path.is_file():
            suffix = path.suffix.lower()
            try:
                if suffix == ".json":
                    table = pa.Table.from_pylist(read_plan(path), schema=DELETION_SCHEMA)
                elif suffix == ".parquet":
                    table = pq.read_table(path)
                elif suffix == ".csv":
                    table = pacsv.read_csv(path)
                else:
                    raise SnapshotError(f"{where}: {path} is not .json, .parquet or .csv")
            except (pa.ArrowInvalid, OSError) as exc:
                raise SnapshotError(f"{where}: cannot read {path}: {exc}") from exc
        elif isinstance(value, str) and _IDENTIFIER.match(value):
            try:
                table = con.sql(f"SELECT * FROM {value}").to_arrow_table()
            except duckdb.Error:
                raise SnapshotError(
                    f"{where}: {value!r} is neither a file nor a table or view of the connection"
                ) from None
        else:
            raise SnapshotError(f"{where}: no file {value}")
    elif isinstance(value, pa.Table):
        table = value
    elif hasattr(value, "to_dict") and hasattr(value, "columns"):  # a pandas DataFrame
        table = pa.Table.from_pandas(value, preserve_index=False)
    elif isinstance(value, (list, tuple)):
        rows = [
            dict(zip(COLUMNS[-len(item):], item)) if isinstance(item, (tuple, list)) else item
            for item in value
        ]
        if not all(isinstance(r, dict) for r in rows):
            raise SnapshotError(f"{where}: expected dicts or (registry, repository, digest) tuples")
        table = pa.Table.from_pylist([{c: r.get(c) for c in COLUMNS} for r in rows], schema=DELETION_SCHEMA)
    else:
        raise SnapshotError(f"{where}: cannot use a {type(value).__name__} as a deletion set")
    return _normalise(table, registries, where)


def _normalise(table: pa.Table, registries: Iterable[str], where: str) -> pa.Table:
    names = set(table.column_names)
    missing = [c for c in ("repository", "digest") if c not in names]
    if missing:
        raise SnapshotError(f"{where}: missing column(s) {', '.join(missing)}")
    known = sorted(set(registries))
    if "registry" not in names or table.column("registry").null_count:
        if len(known) != 1:
            raise SnapshotError(
                f"{where}: say the registry of each manifest; this inventory holds {', '.join(known)}"
            )
        filled = [r if r is not None else known[0] for r in
                  (table.column("registry").to_pylist() if "registry" in names else [None] * table.num_rows)]
        table = table.drop_columns([c for c in ("registry",) if c in names])
        table = table.append_column("registry", pa.array(filled, pa.string()))
    table = table.select(list(COLUMNS)).cast(DELETION_SCHEMA)
    digests = table.column("digest")
    good = pc.fill_null(pc.starts_with(digests, "sha256:"), False)
    if not pc.all(good).as_py() and table.num_rows:
        bad = digests.filter(pc.invert(good))[0].as_py()
        raise SnapshotError(f"{where}: digests must be sha256:<hex>, got {bad!r}")
    return table


def expand_deletions(con: duckdb.DuckDBPyConnection, requested: pa.Table, *, expand: bool = True) -> int:
    """Fill ``deletion_closure`` with the requested manifests and, if ``expand``, their cascade.

    Returns the number of cascade steps run. The same set loaded again (the report asks
    ``reclaimable`` for totals and per repository) keeps the closure already there: 0 steps.
    """
    con.register("_requested_deletions", requested)
    try:
        fingerprint = _fingerprint(con, expand)
        if _loaded_fingerprint(con) == f"{fingerprint} {_count(con)}":
            return 0
        con.execute(f"DELETE FROM {DELETION_CLOSURE}").fetchall()
        con.execute(f"DELETE FROM {DELETION_CLOSURE}_source").fetchall()
        con.execute(
            f"INSERT INTO {DELETION_CLOSURE} SELECT DISTINCT registry, repository, digest, "
            "'requested', NULL, hash(registry, repository), hash(registry, digest) "
            "FROM _requested_deletions"
        ).fetchall()
    finally:
        con.unregister("_requested_deletions")
    steps = _cascade(con) if expand else 0
    # with the closure's row count: a closure edited by hand since is loaded again
    con.execute(
        f"INSERT INTO {DELETION_CLOSURE}_source VALUES (?)", [f"{fingerprint} {_count(con)}"]
    ).fetchall()
    return steps


def load_freed(con: duckdb.DuckDBPyConnection, *, from_kept: bool | None = None) -> None:
    """Fill ``deletion_freed`` with what deleting ``deletion_closure`` frees, once per set, and
    ``deletion_freed_repositories`` with the repositories that referenced each freed blob.

    A blob is freed when every reference to it comes from a deleted revision. When the closure
    holds at most half of the manifest revisions, the deleted revisions' references are counted
    per blob (``sql/deletion_freed.sql``); when it holds more, the remaining revisions'
    references are fewer and say which blobs stay (``sql/deletion_freed_kept.sql``). Both give
    the same blobs; they differ in how many rows they group. ``from_kept`` forces one way.
    """
    closure = _loaded_fingerprint(con)
    done = con.execute(f"SELECT fingerprint FROM {DELETION_FREED}_source").fetchall()
    if from_kept is None and closure is not None and done == [(closure,)]:
        return
    con.execute(f"DELETE FROM {DELETION_FREED}_source").fetchall()
    if from_kept is None:
        manifests = con.execute("SELECT count(*) FROM keyed.manifests").fetchall()[0][0]
        from_kept = _count(con) * 2 > manifests
    script = "deletion_freed_kept.sql" if from_kept else "deletion_freed.sql"
    con.execute((SQL_DIR / script).read_text()).fetchall()
    con.execute((SQL_DIR / "deletion_freed_repositories.sql").read_text()).fetchall()
    con.execute(f"INSERT INTO {DELETION_FREED}_source VALUES (?)", [closure]).fetchall()


def _cascade(con: duckdb.DuckDBPyConnection) -> int:
    """Expand ``deletion_closure`` step by step (sql/cascade_step.sql); returns the steps run."""
    step = (SQL_DIR / "cascade_step.sql").read_text()
    # the first step's delta is the whole closure: a view, not a copy
    delta_kind = "VIEW"
    con.execute(f"CREATE OR REPLACE TEMP VIEW {DELETION_DELTA} AS SELECT * FROM {DELETION_CLOSURE}").fetchall()
    try:
        for steps in range(1, MAX_CASCADE_STEPS + 1):
            con.execute(step).fetchall()
            added = con.execute(f"SELECT count(*) FROM {DELETION_STEP}").fetchall()[0][0]
            if not added:
                return steps
            con.execute(f"INSERT INTO {DELETION_CLOSURE} SELECT * FROM {DELETION_STEP}").fetchall()
            con.execute(f"DROP {delta_kind} {DELETION_DELTA}").fetchall()
            con.execute(f"ALTER TABLE {DELETION_STEP} RENAME TO {DELETION_DELTA}").fetchall()
            delta_kind = "TABLE"
    finally:
        con.execute(f"DROP {delta_kind} IF EXISTS {DELETION_DELTA}").fetchall()
        con.execute(f"DROP TABLE IF EXISTS {DELETION_STEP}").fetchall()
    raise SnapshotError(f"the deletion cascade did not settle after {MAX_CASCADE_STEPS} steps")


def _fingerprint(con: duckdb.DuckDBPyConnection, expand: bool) -> str:
    """An order-free fingerprint of ``_requested_deletions`` (and the expand flag)."""
    row = con.execute(
        "SELECT count(*), sum(hash(registry, repository, digest)::HUGEINT), "
        "bit_xor(hash(digest, repository, registry)) FROM _requested_deletions"
    ).fetchall()[0]
    return f"{row[0]} {row[1]} {row[2]} {bool(expand)}"


def _loaded_fingerprint(con: duckdb.DuckDBPyConnection) -> str | None:
    """The fingerprint of the set ``deletion_closure`` was loaded from, and its row count then."""
    rows = con.execute(f"SELECT fingerprint FROM {DELETION_CLOSURE}_source").fetchall()
    return rows[0][0] if len(rows) == 1 else None


def _count(con: duckdb.DuckDBPyConnection) -> int:
    rows = con.execute(f"SELECT count(*) FROM {DELETION_CLOSURE}").fetchall()
    return int(rows[0][0])
