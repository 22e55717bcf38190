"""The inventory: the crawl, the snapshot tables and their store."""
