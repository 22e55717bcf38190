-- reclaimable: the bytes garbage collection would free after deleting a set of manifests.
--
-- CNCF distribution collects garbage by mark and sweep over the whole registry: a blob
-- (manifest, config or layer) is freed when no remaining manifest revision of any repository
-- references it. The deletion set is expanded by the cascade first (see the `cascade` query):
-- children of deleted indexes that nothing else holds, and referrers of deleted subjects.
-- Foreign layers are not stored by the registry and never count. Blobs that no manifest
-- references at all (left over from earlier deletions) are not seen here.
-- $by groups the freed blobs: one row per blob, per repository whose deleted manifests
-- referenced them (a blob referenced from two repositories counts in both), or per registry
-- (the total). The freed blobs are worked out once per deletion set (the analysis layer's
-- sql/deletion_freed*.sql, into deletion_freed and deletion_freed_repositories), so asking
-- again by another $by only groups them.
--
-- Parameters:
--   deletions DELETIONS: the manifests to delete: a plan JSON file, a Parquet or CSV file, or a
--       table or view with registry, repository, digest (from Python also a list or DataFrame)
--   expand BOOLEAN = true: add the cascade (index children, referrers) to the deletion set
--   by VARCHAR = 'blob' {blob|repository|registry}: one row per freed blob, per repository, or per registry
-- Columns:
--   registry VARCHAR: the registry host
--   repository VARCHAR: the repository (by repository), else null
--   digest VARCHAR: the freed blob (by blob), else null
--   kind VARCHAR: manifest | config | layer (by blob), else null
--   repositories VARCHAR[]: repositories whose deleted manifests referenced the freed blobs
--   blobs BIGINT: freed blobs
--   size BIGINT: freed bytes
WITH freed_keys AS (
    SELECT * FROM deletion_freed
),
freed_repositories AS (
    SELECT * FROM deletion_freed_repositories
),
registries AS (
    SELECT DISTINCT crawl_key, registry FROM keyed.repositories
),
-- $by = 'blob': each freed blob named, with its repositories
blob_keys AS (
    SELECT * FROM freed_keys WHERE $by = 'blob'
),
blob_repositories AS (
    SELECT r.blob_key, list(p.repository ORDER BY p.repository) AS repositories
    FROM freed_repositories AS r
    SEMI JOIN blob_keys AS f ON f.blob_key = r.blob_key
    JOIN keyed.repositories AS p ON p.repo_key = r.repo_key
    GROUP BY r.blob_key
),
kinds AS (
    -- a freed blob's kind from the references it had, where deletion_freed lacks it: a manifest
    -- before a config before a layer
    SELECT f.blob_key, coalesce(f.kind_rank, k.kind_rank) AS kind_rank
    FROM blob_keys AS f
    LEFT JOIN (
        SELECT r.blob_key, min(CASE r.kind WHEN 'manifest' THEN 1 WHEN 'config' THEN 2 ELSE 3 END) AS kind_rank
        FROM keyed.blob_refs AS r
        SEMI JOIN (SELECT blob_key FROM blob_keys WHERE kind_rank IS NULL) AS u ON u.blob_key = r.blob_key
        GROUP BY r.blob_key
    ) AS k ON k.blob_key = f.blob_key
),
names AS (
    SELECT digest_key AS blob_key, any_value(digest) AS digest FROM keyed.manifests
    SEMI JOIN blob_keys AS f ON f.blob_key = digest_key GROUP BY digest_key
    UNION
    SELECT config_key, any_value(config_digest) FROM keyed.manifests
    SEMI JOIN blob_keys AS f ON f.blob_key = config_key GROUP BY config_key
    UNION
    SELECT layer_key, any_value(layer_digest) FROM keyed.layers
    SEMI JOIN blob_keys AS f ON f.blob_key = layer_key GROUP BY layer_key
    UNION
    SELECT child_key, any_value(child_digest) FROM keyed.index_children
    SEMI JOIN blob_keys AS f ON f.blob_key = child_key GROUP BY child_key
),
by_blob AS (
    SELECT g.registry, NULL AS repository, n.digest,
           CASE k.kind_rank WHEN 1 THEN 'manifest' WHEN 2 THEN 'config' ELSE 'layer' END AS kind,
           r.repositories, 1 AS blobs, f.size
    FROM blob_keys AS f
    JOIN registries AS g ON g.crawl_key = f.crawl_key
    JOIN blob_repositories AS r ON r.blob_key = f.blob_key
    JOIN kinds AS k ON k.blob_key = f.blob_key
    JOIN (SELECT blob_key, any_value(digest) AS digest FROM names GROUP BY blob_key) AS n
      ON n.blob_key = f.blob_key
),
-- $by = 'repository': a blob counts in each repository that referenced it
by_repository AS (
    SELECT p.registry, p.repository, NULL AS digest, NULL AS kind, [p.repository] AS repositories,
           r.blobs, r.size
    FROM (
        SELECT repo_key, count(*) AS blobs, CAST(sum(size) AS BIGINT) AS size
        FROM freed_repositories
        WHERE $by = 'repository'
        GROUP BY repo_key
    ) AS r
    JOIN keyed.repositories AS p ON p.repo_key = r.repo_key
),
-- $by = 'registry': the total, and every repository that referenced a freed blob
registry_totals AS (
    SELECT g.registry, count(*) AS blobs, CAST(sum(f.size) AS BIGINT) AS size
    FROM (SELECT * FROM freed_keys WHERE $by = 'registry') AS f
    JOIN registries AS g ON g.crawl_key = f.crawl_key
    GROUP BY g.registry
),
registry_repositories AS (
    SELECT p.registry, list(p.repository ORDER BY p.repository) AS repositories
    FROM (SELECT DISTINCT repo_key FROM freed_repositories WHERE $by = 'registry') AS r
    JOIN keyed.repositories AS p ON p.repo_key = r.repo_key
    GROUP BY p.registry
),
by_registry AS (
    SELECT t.registry, NULL AS repository, NULL AS digest, NULL AS kind, r.repositories,
           t.blobs, t.size
    FROM registry_totals AS t
    JOIN registry_repositories AS r ON r.registry = t.registry
)
SELECT * FROM by_blob
UNION ALL
SELECT * FROM by_repository
UNION ALL
SELECT * FROM by_registry
ORDER BY registry, size DESC, repository, digest
