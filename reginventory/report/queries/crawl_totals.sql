-- crawl_totals: per committed crawl, the figures the report's headline and growth chart show.
--
-- One row per registry and committed crawl named in $crawls (``registry crawl_id``, a space
-- between), oldest first; the report keeps the rows of older crawls in a cache, so each run
-- computes only the crawls it has not seen. Counts come from the crawl's rows, not
-- from the crawler's own counters; bytes are those of the distinct blobs (manifests, configs,
-- layers, index children) that the crawl's manifests reference, foreign layers excluded: what
-- the registry stores, as in repo_sizes (blob_refs) but counted once per registry.
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
    SELECT h.registry, h.crawl_id, h.started, h.status,
           (h.registry, h.crawl_id) IN (SELECT registry, crawl_id FROM main.crawls) AS selected
    FROM history.crawls AS h
    WHERE list_contains(CAST($crawls AS VARCHAR[]), h.registry || ' ' || h.crawl_id)
),
tag_counts AS (
    -- filters on registry and crawl_id reach the Parquet scans: other crawls are not read
    SELECT registry, crawl_id, count(*) AS tags, count(DISTINCT hash(repository, digest)) AS images
    FROM history.tags
    WHERE list_contains(CAST($crawls AS VARCHAR[]), registry || ' ' || crawl_id)
    GROUP BY ALL
),
manifest_counts AS (
    SELECT registry, crawl_id, count(*) AS manifests
    FROM history.manifests
    WHERE list_contains(CAST($crawls AS VARCHAR[]), registry || ' ' || crawl_id)
    GROUP BY ALL
),
repositories AS (
    SELECT registry, crawl_id, count(*) AS repositories
    FROM (
        SELECT registry, crawl_id, repository FROM history.tags
        WHERE list_contains(CAST($crawls AS VARCHAR[]), registry || ' ' || crawl_id)
        UNION
        SELECT registry, crawl_id, repository FROM history.manifests
        WHERE list_contains(CAST($crawls AS VARCHAR[]), registry || ' ' || crawl_id)
    )
    GROUP BY ALL
),
blob_rows AS (
    -- every blob a manifest of the crawl references: the manifest itself, its config, its
    -- layers, an index's children. The content tables hold one row per manifest digest, so no
    -- join with the repositories is needed to know which blobs the registry stores.
    SELECT registry, crawl_id, digest AS blob, manifest_size AS size, false AS "foreign" FROM history.manifests
    UNION ALL
    SELECT registry, crawl_id, config_digest, config_size, false FROM history.manifests
    WHERE config_digest IS NOT NULL
    UNION ALL
    SELECT registry, crawl_id, layer_digest, size, "foreign" FROM history.layers
    UNION ALL
    SELECT registry, crawl_id, child_digest, child_size, false FROM history.index_children
),
stored AS (
    SELECT registry, crawl_id, sum(size) AS size
    FROM (
        -- grouped by a 64-bit hash of the digest, as the analysis layer's keys are: faster
        -- than strings, and a collision among millions of blobs is vanishingly unlikely
        SELECT registry, crawl_id, hash(blob) AS blob_key, max(size) AS size
        FROM blob_rows
        WHERE list_contains(CAST($crawls AS VARCHAR[]), registry || ' ' || crawl_id)
        GROUP BY ALL
        HAVING NOT bool_or("foreign")
    )
    GROUP BY ALL
)
SELECT c.registry, c.crawl_id, c.started, c.status, c.selected,
       coalesce(r.repositories, 0) AS repositories,
       coalesce(t.tags, 0) AS tags,
       coalesce(t.images, 0) AS images,
       coalesce(m.manifests, 0) AS manifests,
       CAST(coalesce(s.size, 0) AS BIGINT) AS size
FROM chosen AS c
LEFT JOIN tag_counts AS t ON t.registry = c.registry AND t.crawl_id = c.crawl_id
LEFT JOIN manifest_counts AS m ON m.registry = c.registry AND m.crawl_id = c.crawl_id
LEFT JOIN repositories AS r ON r.registry = c.registry AND r.crawl_id = c.crawl_id
LEFT JOIN stored AS s ON s.registry = c.registry AND s.crawl_id = c.crawl_id
ORDER BY c.registry, c.started, c.crawl_id
