-- crawl_totals: per committed crawl, the figures the report's headline and growth chart show.
--
-- One row per registry and committed crawl named in $crawls (``registry crawl_id``, a space
-- between), oldest first; the report keeps the rows of older crawls in a cache, so each run
-- computes only the crawls it has not seen. Counts come from the crawl's rows, not
-- from the crawler's own counters; bytes are those of the distinct blobs (manifests, configs,
-- layers, index children) that the crawl's manifests reference, foreign layers excluded: what
-- the registry stores, as in repo_sizes (blob_refs) but counted once per registry. The
-- selected crawl's figures come from the keyed tables in memory, the others' from Parquet
-- (filters on registry and crawl_id reach the scans: other crawls are not read).
--
-- Parameters:
--   crawls VARCHAR[]: the crawls, each as registry and crawl id separated by a space
-- Columns:
--   registry VARCHAR: the registry host
--   crawl_id VARCHAR: the crawl
--   started TIMESTAMP WITH TIME ZONE: when it started
--   status VARCHAR: complete | partial
--   selected BOOLEAN: the crawl the report is about
--   repositories BIGINT: repositories with a tag or a manifest
--   tags BIGINT: tags
--   images BIGINT: distinct digests that tags point at, per repository
--   manifests BIGINT: manifest revisions present, per repository
--   size BIGINT: bytes of distinct blobs stored
WITH chosen AS (
    SELECT h.registry, h.crawl_id, hash(h.registry, h.crawl_id) AS crawl_key, h.started, h.status,
           (h.registry, h.crawl_id) IN (SELECT registry, crawl_id FROM main.crawls) AS selected
    FROM history.crawls AS h
    WHERE list_contains(CAST($crawls AS VARCHAR[]), h.registry || ' ' || h.crawl_id)
),
repositories AS (
    -- keyed.repositories counts each repository's tags, images and manifests
    SELECT crawl_key, count(*) AS repositories, sum(tags) AS tags, sum(images) AS images,
           sum(manifests) AS manifests
    FROM history_keyed.repositories
    -- by crawl id alone, a filter that reaches the scans of crawls read from Parquet; the join
    -- on crawl_key below drops another registry's crawl of the same id
    WHERE list_contains(list_transform(CAST($crawls AS VARCHAR[]), lambda c: split_part(c, ' ', 2)), crawl_id)
    GROUP BY crawl_key
),
stored AS (
    -- per blob: its largest size, unless some manifest lists it as a foreign layer
    SELECT crawl_key, sum(size) AS size
    FROM keyed.blob_revisions
    WHERE NOT "foreign" AND crawl_key IN (SELECT crawl_key FROM chosen)
    GROUP BY crawl_key
    UNION ALL
    SELECT crawl_key, sum(size)
    FROM (
        SELECT crawl_key, blob_key, max(size) AS size
        FROM (SELECT * FROM previous_keyed.repo_blobs UNION ALL SELECT * FROM other_keyed.repo_blobs)
        -- by crawl id alone (repo_blobs names no registry): the join on crawl_key below
        -- drops another registry's crawl of the same id
        WHERE list_contains(list_transform(CAST($crawls AS VARCHAR[]), lambda c: split_part(c, ' ', 2)), crawl_id)
        GROUP BY crawl_key, blob_key
        HAVING NOT bool_or("foreign")
    )
    GROUP BY crawl_key
)
SELECT c.registry, c.crawl_id, c.started, c.status, c.selected,
       coalesce(r.repositories, 0) AS repositories,
       CAST(coalesce(r.tags, 0) AS BIGINT) AS tags,
       CAST(coalesce(r.images, 0) AS BIGINT) AS images,
       CAST(coalesce(r.manifests, 0) AS BIGINT) AS manifests,
       CAST(coalesce(s.size, 0) AS BIGINT) AS size
FROM chosen AS c
LEFT JOIN repositories AS r ON r.crawl_key = c.crawl_key
LEFT JOIN stored AS s ON s.crawl_key = c.crawl_key
ORDER BY c.registry, c.started, c.crawl_id
