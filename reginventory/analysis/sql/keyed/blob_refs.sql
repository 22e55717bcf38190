-- {target}.blob_refs: which manifest revision references which blob, as garbage collection marks.
--
-- CNCF distribution marks, for every manifest revision of every repository (tagged or not), the
-- manifest's own blob, its config, its layers and, for an index, its child manifests. A blob
-- survives garbage collection when some remaining row here references it. blob_key is
-- hash(registry, blob digest), the same key as a manifest's digest_key. Names (registry,
-- repository) are left to the repositories table: 8 million rows of strings are what makes
-- loading slow. The joins name crawl_id too, so that a filter on one crawl reaches every
-- table it reads; the manifests are read once.
WITH m AS MATERIALIZED (
    SELECT crawl_id, crawl_key, repo_key, digest_key, manifest_size, config_key, config_size,
           config_digest IS NOT NULL AS has_config
    FROM {target}.manifests
)
SELECT crawl_id, crawl_key, repo_key, digest_key, digest_key AS blob_key, 'manifest' AS kind,
       manifest_size AS size, false AS "foreign"
FROM m
UNION ALL
SELECT crawl_id, crawl_key, repo_key, digest_key, config_key, 'config', config_size, false
FROM m
WHERE has_config
UNION ALL
SELECT m.crawl_id, m.crawl_key, m.repo_key, m.digest_key, l.layer_key, 'layer', l.size, l."foreign"
FROM m
JOIN {target}.layers AS l
  ON l.crawl_key = m.crawl_key AND l.crawl_id = m.crawl_id AND l.digest_key = m.digest_key
UNION ALL
SELECT m.crawl_id, m.crawl_key, m.repo_key, m.digest_key, c.child_key, 'manifest', c.child_size,
       false
FROM m
JOIN {target}.index_children AS c
  ON c.crawl_key = m.crawl_key AND c.crawl_id = m.crawl_id AND c.digest_key = m.digest_key
