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
    -- repo_blobs holds each repository's distinct blobs; blob_revisions how many repositories
    -- store each blob
    SELECT r.repo_key,
           count(*) AS blobs,
           sum(r.size) AS size,
           coalesce(sum(r.size) FILTER (WHERE b.owners = 1), 0) AS unique_size
    FROM keyed.repo_blobs AS r
    JOIN keyed.blob_revisions AS b ON b.crawl_key = r.crawl_key AND b.blob_key = r.blob_key
    WHERE NOT r."foreign"
    GROUP BY r.repo_key
),
tag_counts AS (
    SELECT repo_key, count(*) AS tags, count(DISTINCT digest_key) AS images
    FROM keyed.tags
    GROUP BY repo_key
),
manifest_counts AS (
    SELECT repo_key, count(DISTINCT digest_key) AS manifests
    FROM keyed.manifests
    GROUP BY repo_key
)
SELECT p.registry, p.repository,
       coalesce(t.tags, 0) AS tags,
       coalesce(t.images, 0) AS images,
       coalesce(m.manifests, 0) AS manifests,
       coalesce(s.blobs, 0) AS blobs,
       CAST(coalesce(s.size, 0) AS BIGINT) AS size,
       CAST(coalesce(s.unique_size, 0) AS BIGINT) AS unique_size,
       CAST(coalesce(s.size, 0) - coalesce(s.unique_size, 0) AS BIGINT) AS shared_size
FROM keyed.repositories AS p
LEFT JOIN tag_counts AS t ON t.repo_key = p.repo_key
LEFT JOIN manifest_counts AS m ON m.repo_key = p.repo_key
LEFT JOIN sizes AS s ON s.repo_key = p.repo_key
ORDER BY size DESC, p.registry, p.repository
