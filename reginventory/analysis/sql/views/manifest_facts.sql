-- manifest_facts: per manifest digest, its platforms and effective creation time.
-- Columns: registry, crawl_id, digest, kind, platforms (os/arch[/variant] list), created.
SELECT f.registry, c.crawl_id, f.digest, f.kind, f.platforms, f.created
FROM {target}.manifest_facts AS f
JOIN (SELECT DISTINCT crawl_key, crawl_id FROM {target}.manifests) AS c ON c.crawl_key = f.crawl_key
