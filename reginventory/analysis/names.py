"""Names the analysis layer shares: schemas, the SQL folder, internal tables."""

from __future__ import annotations

from pathlib import Path

SQL_DIR = Path(__file__).with_name("sql")
HISTORY = "history"
KEYED = "keyed"
HISTORY_KEYED = "history_keyed"
#: The crawl before the selected one, per registry: what growth compares with by default.
PREVIOUS = "previous"
PREVIOUS_KEYED = "previous_keyed"
OTHER = "other"
OTHER_KEYED = "other_keyed"
#: Where empty stand-ins of tables without any file live (views need the columns anyway).
EMPTY = "_empty"
SCHEMAS = (HISTORY, KEYED, HISTORY_KEYED, PREVIOUS, PREVIOUS_KEYED, OTHER, OTHER_KEYED, EMPTY)
#: The deletion set that ``reclaimable`` and ``cascade`` read; empty until a query binds one.
DELETION_CLOSURE = "deletion_closure"
#: Scratch tables of the cascade (sql/cascade_step.sql): the rows the last step added, and the
#: rows the running step adds.
DELETION_DELTA = "deletion_delta"
DELETION_STEP = "deletion_step"
#: The blobs that deleting deletion_closure frees (sql/deletion_freed.sql), for reclaimable.
DELETION_FREED = "deletion_freed"


def strip_semicolon(sql: str) -> str:
    return sql.strip().rstrip(";")
