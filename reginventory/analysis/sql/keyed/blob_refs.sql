-- {target}.blob_refs: which manifest revision references which blob, as garbage collection marks.
--
-- CNCF distribution marks, for every manifest revision of every repository (tagged or not), the
-- manifest's own blob, its config, its layers and, for an index, its child manifests. A blob
-- survives garbage collection when some remaining row here references it. blob_key is
-- hash(registry, blob digest), the same key as a manifest's digest_key. The joins name
-- crawl_id too, so that a filter on one crawl reaches every table it reads.
SELECT registry, crawl_id, crawl_key, repository, repo_key, digest_key, digest_key AS blob_key,
       'manifest' AS kind, manifest_size AS size, false AS "foreign"
FROM {target}.manifests
UNION ALL
SELECT registry, crawl_id, crawl_key, repository, repo_key, digest_key, config_key, 'config',
       config_size, false
FROM {target}.manifests
WHERE config_digest IS NOT NULL
UNION ALL
SELECT m.registry, m.crawl_id, m.crawl_key, m.repository, m.repo_key, m.digest_key, l.layer_key,
       'layer', l.size, l."foreign"
FROM {target}.manifests AS m
JOIN {target}.layers AS l
  ON l.crawl_key = m.crawl_key AND l.crawl_id = m.crawl_id AND l.digest_key = m.digest_key
UNION ALL
SELECT m.registry, m.crawl_id, m.crawl_key, m.repository, m.repo_key, m.digest_key, c.child_key,
       'manifest', c.child_size, false
FROM {target}.manifests AS m
JOIN {target}.index_children AS c
  ON c.crawl_key = m.crawl_key AND c.crawl_id = m.crawl_id AND c.digest_key = m.digest_key
