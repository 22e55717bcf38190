"""The analysis package's public names do not drift silently."""

from __future__ import annotations

import reginventory.analysis as analysis

EXPECTED = {
    "Catalog", "Column", "Inventory", "Param", "Query", "expand_deletions", "list_queries",
    "open_inventory", "parse_query",
}


def test_public_names() -> None:
    assert set(analysis.__all__) == EXPECTED
    for name in analysis.__all__:
        assert hasattr(analysis, name), name
