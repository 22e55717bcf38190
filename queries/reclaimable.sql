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
-- (the total).
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
WITH deleted AS (
    SELECT DISTINCT repo_key, digest_key FROM deletion_closure
),
deleted_refs AS MATERIALIZED (
    -- the references that deleted manifest revisions make
    SELECT r.*
    FROM keyed.blob_refs AS r
    SEMI JOIN deleted AS d ON d.repo_key = r.repo_key AND d.digest_key = r.digest_key
),
touched AS (
    SELECT blob_key,
           min(CASE kind WHEN 'manifest' THEN 1 WHEN 'config' THEN 2 ELSE 3 END) AS kind_rank,
           max(size) AS size,
           count(*) AS deleted_refs
    FROM deleted_refs
    GROUP BY blob_key
),
freed_keys AS MATERIALIZED (
    -- freed: every reference to the blob comes from a deleted revision, and it is stored
    SELECT t.*
    FROM touched AS t
    JOIN keyed.blob_revisions AS b ON b.blob_key = t.blob_key
    WHERE b.refs = t.deleted_refs AND NOT b."foreign"
),
freed AS (
    SELECT f.blob_key, any_value(r.registry) AS registry,
           CASE any_value(f.kind_rank) WHEN 1 THEN 'manifest' WHEN 2 THEN 'config' ELSE 'layer' END
               AS kind,
           any_value(f.size) AS size,
           list(DISTINCT r.repository ORDER BY r.repository) AS repositories
    FROM freed_keys AS f
    JOIN deleted_refs AS r ON r.blob_key = f.blob_key
    GROUP BY f.blob_key
),
names AS (
    SELECT digest_key AS blob_key, any_value(digest) AS digest FROM keyed.manifests
    SEMI JOIN freed_keys AS f ON f.blob_key = digest_key GROUP BY digest_key
    UNION
    SELECT config_key, any_value(config_digest) FROM keyed.manifests
    SEMI JOIN freed_keys AS f ON f.blob_key = config_key GROUP BY config_key
    UNION
    SELECT layer_key, any_value(layer_digest) FROM keyed.layers
    SEMI JOIN freed_keys AS f ON f.blob_key = layer_key GROUP BY layer_key
    UNION
    SELECT child_key, any_value(child_digest) FROM keyed.index_children
    SEMI JOIN freed_keys AS f ON f.blob_key = child_key GROUP BY child_key
),
named AS (
    SELECT f.*, n.digest
    FROM freed AS f
    JOIN (SELECT blob_key, any_value(digest) AS digest FROM names GROUP BY blob_key) AS n
      ON n.blob_key = f.blob_key
),
per_repository AS (
    SELECT registry, unnest(repositories) AS repository, size FROM named
)
SELECT registry, NULL AS repository, digest, kind, repositories, 1 AS blobs, size
FROM named
WHERE $by = 'blob'
UNION ALL
SELECT registry, repository, NULL, NULL, [repository], count(*), CAST(sum(size) AS BIGINT)
FROM per_repository
WHERE $by = 'repository'
GROUP BY registry, repository
UNION ALL
SELECT registry, NULL, NULL, NULL, list_sort(list_distinct(flatten(list(repositories)))),
       count(*), CAST(sum(size) AS BIGINT)
FROM named
WHERE $by = 'registry'
GROUP BY registry
ORDER BY registry, size DESC, repository, digest
