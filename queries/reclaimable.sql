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
    -- most freed blobs have one repository (owner_key): only the others group their names
    SELECT f.blob_key, [p.repository] AS repositories
    FROM blob_keys AS f
    JOIN keyed.repositories AS p ON p.repo_key = f.owner_key
    UNION ALL
    SELECT r.blob_key, list(p.repository ORDER BY p.repository)
    FROM freed_repositories AS r
    SEMI JOIN (SELECT blob_key FROM blob_keys WHERE owner_key IS NULL) AS f ON f.blob_key = r.blob_key
    JOIN keyed.repositories AS p ON p.repo_key = r.repo_key
    GROUP BY r.blob_key
),
by_blob AS (
    SELECT g.registry, NULL AS repository, n.digest, n.kind, r.repositories, 1 AS blobs, f.size
    FROM blob_keys AS f
    JOIN registries AS g ON g.crawl_key = f.crawl_key
    JOIN blob_repositories AS r ON r.blob_key = f.blob_key
    JOIN keyed.blob_names AS n ON n.blob_key = f.blob_key
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
