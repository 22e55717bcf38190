"""Run a catalog query on an opened snapshot connection."""

from __future__ import annotations

from typing import Any, Mapping

import duckdb
import pyarrow as pa

from reginventory.analysis.catalog import Query
from reginventory.analysis.deletions import expand_deletions, load_freed, to_table
from reginventory.analysis.names import DELETION_FREED
from reginventory.analysis.params import DefaultResolver, bind
from reginventory.errors import SnapshotError

#: The BOOLEAN parameter that says whether a DELETIONS parameter is expanded by the cascade.
EXPAND_PARAM = "expand"


def execute(
    con: duckdb.DuckDBPyConnection,
    query: Query,
    params: Mapping[str, Any] | None = None,
    *,
    registries: list[str] | None = None,
    resolve: DefaultResolver | None = None,
) -> pa.Table:
    """Bind the parameters, load any deletion set, run the query, return an Arrow table."""
    values = bind(query, params or {}, resolve)
    for param in query.params:
        if param.type == "DELETIONS":
            requested = to_table(
                values[param.name], con=con, registries=registries or [], name=param.name
            )
            expand_deletions(con, requested, expand=bool(values.get(EXPAND_PARAM, True)))
            if DELETION_FREED in query.sql:
                load_freed(con)
    sql_params = {k: v for k, v in values.items() if k in query.uses}
    try:
        return con.sql(query.sql, params=sql_params).to_arrow_table()
    except duckdb.Error as exc:
        raise SnapshotError(f"query {query.name} failed: {_first_line(exc)}") from exc


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
