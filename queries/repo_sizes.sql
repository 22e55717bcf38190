-- repo_sizes: per repository, its tags, images and the bytes it references, unique and shared.
--
-- Bytes are those of distinct blobs (manifests, configs, layers) that the repository's manifest
-- revisions reference, tagged or not, foreign layers excluded: what the registry stores for it.
-- Unique bytes are referenced by no other repository of the registry: deleting the whole
-- repository and collecting garbage would free them. Shared bytes are the rest.
--
-- Parameters:
--   (none)
-- Columns:
--   registry VARCHAR: the registry host
--   repository VARCHAR: the repository path
--   tags BIGINT: tags in the repository
--   images BIGINT: distinct digests that its tags point at
--   manifests BIGINT: manifest revisions present (tagged, untagged, index children, referrers)
--   blobs BIGINT: distinct blobs referenced
--   size BIGINT: bytes referenced
--   unique_size BIGINT: bytes referenced by no other repository
--   shared_size BIGINT: bytes also referenced by another repository
WITH sizes AS (
    -- repo_blobs holds each repository's distinct blobs
    SELECT repo_key, count(*) AS blobs, sum(size) AS size
    FROM keyed.repo_blobs
    WHERE NOT "foreign"
    GROUP BY repo_key
),
unique_sizes AS (
    -- blob_revisions names the one repository that stores a blob no other one references
    SELECT owner_key AS repo_key, sum(owned_size) AS unique_size
    FROM keyed.blob_revisions
    WHERE owners = 1
    GROUP BY owner_key
)
SELECT p.registry, p.repository, p.tags, p.images, p.manifests,
       coalesce(s.blobs, 0) AS blobs,
       CAST(coalesce(s.size, 0) AS BIGINT) AS size,
       CAST(coalesce(u.unique_size, 0) AS BIGINT) AS unique_size,
       CAST(coalesce(s.size, 0) - coalesce(u.unique_size, 0) AS BIGINT) AS shared_size
FROM keyed.repositories AS p
LEFT JOIN sizes AS s ON s.repo_key = p.repo_key
LEFT JOIN unique_sizes AS u ON u.repo_key = p.repo_key
ORDER BY size DESC, p.registry, p.repository
