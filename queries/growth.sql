-- growth: between two crawls, the tags and bytes each repository gained and lost.
--
-- $to_crawl defaults to the selected crawl of each registry, $from_crawl to the committed crawl
-- of the same registry that started just before it (with several registries both are worked
-- out per registry). With no earlier crawl, everything counts as added. Bytes are those of distinct blobs the repository's manifests reference (foreign
-- layers excluded), as in repo_sizes; a tag that points at another digest counts as moved.
--
-- Parameters:
--   from_crawl VARCHAR = previous_crawl(to_crawl): the earlier crawl id; default: the one before $to_crawl
--   to_crawl VARCHAR = selected_crawl: the later crawl id; default: the selected crawl
-- Columns:
--   registry VARCHAR: the registry host
--   repository VARCHAR: the repository path
--   from_crawl VARCHAR: the earlier crawl id, null when there is none
--   to_crawl VARCHAR: the later crawl id
--   tags_before BIGINT: tags in the earlier crawl
--   tags_after BIGINT: tags in the later crawl
--   tags_added BIGINT: tags only in the later crawl
--   tags_removed BIGINT: tags only in the earlier crawl
--   tags_moved BIGINT: tags in both that point at another digest
--   size_before BIGINT: bytes referenced in the earlier crawl
--   size_after BIGINT: bytes referenced in the later crawl
--   size_added BIGINT: bytes of blobs referenced only in the later crawl
--   size_removed BIGINT: bytes of blobs referenced only in the earlier crawl
WITH target AS (
    SELECT c.registry, c.crawl_id AS to_crawl, c.started AS to_started
    FROM history.crawls AS c
    WHERE CASE
        WHEN CAST($to_crawl AS VARCHAR) IS NULL
            THEN (c.registry, c.crawl_id) IN (SELECT registry, crawl_id FROM crawls)
        ELSE c.crawl_id = CAST($to_crawl AS VARCHAR)
    END
),
checked AS (
    SELECT registry, to_crawl, to_started FROM target
    UNION ALL
    SELECT error('no committed crawl ' || $to_crawl), NULL, NULL
    WHERE CAST($to_crawl AS VARCHAR) IS NOT NULL AND NOT EXISTS (SELECT 1 FROM target)
),
pairs AS MATERIALIZED (
    SELECT t.registry, t.to_crawl, from_crawl,
           hash(t.registry, t.to_crawl) AS to_key, hash(t.registry, from_crawl) AS from_key
    FROM checked AS t,
    LATERAL (
        SELECT CASE
            WHEN CAST($from_crawl AS VARCHAR) IS NULL THEN (
                SELECT arg_max(p.crawl_id, p.started) FROM history.crawls AS p
                WHERE p.registry = t.registry AND p.started < t.to_started)
            ELSE coalesce((
                SELECT p.crawl_id FROM history.crawls AS p
                WHERE p.registry = t.registry AND p.crawl_id = CAST($from_crawl AS VARCHAR)),
                error('no committed crawl ' || $from_crawl || ' of registry ' || t.registry))
        END AS from_crawl
    )
),
tags_from AS (
    SELECT t.repo_key, hash(t.tag) AS tag_key, t.digest_key
    FROM history_keyed.tags AS t
    SEMI JOIN pairs AS p ON p.from_key = t.crawl_key
    WHERE CAST($from_crawl AS VARCHAR) IS NULL OR t.crawl_id = CAST($from_crawl AS VARCHAR)
),
tags_to AS (
    SELECT t.repo_key, hash(t.tag) AS tag_key, t.digest_key
    FROM history_keyed.tags AS t
    SEMI JOIN pairs AS p ON p.to_key = t.crawl_key
    WHERE CAST($to_crawl AS VARCHAR) IS NULL OR t.crawl_id = CAST($to_crawl AS VARCHAR)
),
tag_changes AS (
    SELECT coalesce(a.repo_key, b.repo_key) AS repo_key,
           count(a.tag_key) AS tags_before,
           count(b.tag_key) AS tags_after,
           count(*) FILTER (WHERE a.tag_key IS NULL) AS tags_added,
           count(*) FILTER (WHERE b.tag_key IS NULL) AS tags_removed,
           count(*) FILTER (WHERE a.digest_key <> b.digest_key) AS tags_moved
    FROM tags_from AS a
    FULL JOIN tags_to AS b ON a.repo_key = b.repo_key AND a.tag_key = b.tag_key
    GROUP BY 1
),
blobs_from AS (
    -- repo_blobs is in memory for the selected crawl, worked out from Parquet for the others;
    -- within one crawl, its stored rows are distinct already
    SELECT r.repo_key, r.blob_key, r.size
    FROM history_keyed.repo_blobs AS r
    SEMI JOIN pairs AS p ON p.from_key = r.crawl_key
    WHERE NOT r."foreign"
      AND (CAST($from_crawl AS VARCHAR) IS NULL OR r.crawl_id = CAST($from_crawl AS VARCHAR))
),
blobs_to AS (
    SELECT r.repo_key, r.blob_key, r.size
    FROM history_keyed.repo_blobs AS r
    SEMI JOIN pairs AS p ON p.to_key = r.crawl_key
    WHERE NOT r."foreign"
      AND (CAST($to_crawl AS VARCHAR) IS NULL OR r.crawl_id = CAST($to_crawl AS VARCHAR))
),
blob_changes AS (
    SELECT coalesce(a.repo_key, b.repo_key) AS repo_key,
           coalesce(sum(a.size), 0) AS size_before,
           coalesce(sum(b.size), 0) AS size_after,
           coalesce(sum(b.size) FILTER (WHERE a.blob_key IS NULL), 0) AS size_added,
           coalesce(sum(a.size) FILTER (WHERE b.blob_key IS NULL), 0) AS size_removed
    FROM blobs_from AS a
    FULL JOIN blobs_to AS b ON a.repo_key = b.repo_key AND a.blob_key = b.blob_key
    GROUP BY 1
),
names AS (
    -- every repository of either crawl holds a manifest: name them from there
    SELECT m.repo_key, any_value(m.registry) AS registry, any_value(m.repository) AS repository
    FROM history_keyed.manifests AS m
    SEMI JOIN pairs AS p ON p.from_key = m.crawl_key OR p.to_key = m.crawl_key
    WHERE (CAST($from_crawl AS VARCHAR) IS NULL OR CAST($to_crawl AS VARCHAR) IS NULL
           OR m.crawl_id IN (CAST($from_crawl AS VARCHAR), CAST($to_crawl AS VARCHAR)))
    GROUP BY m.repo_key
)
SELECT n.registry, n.repository, p.from_crawl, p.to_crawl,
       coalesce(t.tags_before, 0) AS tags_before,
       coalesce(t.tags_after, 0) AS tags_after,
       coalesce(t.tags_added, 0) AS tags_added,
       coalesce(t.tags_removed, 0) AS tags_removed,
       coalesce(t.tags_moved, 0) AS tags_moved,
       CAST(coalesce(b.size_before, 0) AS BIGINT) AS size_before,
       CAST(coalesce(b.size_after, 0) AS BIGINT) AS size_after,
       CAST(coalesce(b.size_added, 0) AS BIGINT) AS size_added,
       CAST(coalesce(b.size_removed, 0) AS BIGINT) AS size_removed
FROM names AS n
JOIN pairs AS p ON p.registry = n.registry
LEFT JOIN tag_changes AS t ON t.repo_key = n.repo_key
LEFT JOIN blob_changes AS b ON b.repo_key = n.repo_key
ORDER BY n.registry, n.repository
