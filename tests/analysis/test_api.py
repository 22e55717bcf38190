"""The analysis package's public names do not drift silently."""

from __future__ import annotations

import reginventory.analysis as analysis
from tests.analysis.scenario import Scenario

EXPECTED = {
    "Catalog", "Column", "Inventory", "Param", "Query", "expand_deletions", "list_queries",
    "open_inventory", "parse_query",
}


def test_public_names() -> None:
    assert set(analysis.__all__) == EXPECTED
    for name in analysis.__all__:
        assert hasattr(analysis, name), name


def test_a_cursor_runs_queries_beside_its_inventory(scenario: Scenario) -> None:
    """A cursor shares the loaded tables and keeps its own deletion set, in another thread."""
    from concurrent.futures import ThreadPoolExecutor

    with analysis.open_inventory(scenario.root) as inv:
        inv.prepare()
        every = inv.connection.execute(
            "SELECT registry, repository, digest FROM keyed.manifests ORDER BY ALL").fetchall()
        side = inv.cursor()
        with ThreadPoolExecutor(max_workers=1) as pool:
            beside = pool.submit(
                lambda: (side.run_arrow("duplicates"), side.run_arrow("reclaimable", deletions=every[:1], by="registry")))
            mine = inv.run_arrow("reclaimable", deletions=every, by="registry")
            duplicates, theirs = beside.result()
        assert side.sql("SELECT current_setting('TimeZone') AS tz")["tz"][0] == "UTC"
        side.close()
        assert duplicates == inv.run_arrow("duplicates")
        assert mine.column("size")[0].as_py() > theirs.column("size")[0].as_py() > 0
        assert inv.run_arrow("reclaimable", deletions=every[:1], by="registry") == theirs
