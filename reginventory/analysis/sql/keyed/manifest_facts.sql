-- {target}.manifest_facts: per manifest digest, its platforms and effective creation time.
--
-- An image has its own platform; an index has the platforms of its image children (attestation
-- children excluded) in index order. An index has no config: its creation time is that of its
-- newest child, unless the crawler recorded one.
WITH content AS (
    SELECT crawl_key, digest_key,
           any_value(registry) AS registry,
           any_value(digest) AS digest,
           any_value(kind) AS kind,
           any_value(nullif(os, '')) AS os,
           any_value(nullif(architecture, '')) AS architecture,
           any_value(nullif(variant, '')) AS variant,
           any_value(created) AS created
    FROM {target}.manifests
    GROUP BY crawl_key, digest_key
),
child_platforms AS (
    SELECT crawl_key, digest_key, platform, min(position) AS position
    FROM {target}.index_children
    WHERE platform IS NOT NULL AND kind <> 'attestation'
    GROUP BY crawl_key, digest_key, platform
),
index_platforms AS (
    SELECT crawl_key, digest_key, list(platform ORDER BY position) AS platforms
    FROM child_platforms
    GROUP BY crawl_key, digest_key
),
index_created AS (
    SELECT c.crawl_key, c.digest_key, max(m.created) AS created
    FROM {target}.index_children AS c
    JOIN content AS m ON m.crawl_key = c.crawl_key AND m.digest_key = c.child_key
    WHERE c.kind <> 'attestation'
    GROUP BY c.crawl_key, c.digest_key
)
SELECT m.registry, m.crawl_key, m.digest, m.digest_key, m.kind,
       CASE
           WHEN m.kind = 'index' THEN coalesce(p.platforms, CAST([] AS VARCHAR[]))
           WHEN m.os IS NOT NULL AND m.architecture IS NOT NULL
               THEN [m.os || '/' || m.architecture || coalesce('/' || m.variant, '')]
           ELSE CAST([] AS VARCHAR[])
       END AS platforms,
       coalesce(m.created, i.created) AS created
FROM content AS m
LEFT JOIN index_platforms AS p ON p.crawl_key = m.crawl_key AND p.digest_key = m.digest_key
LEFT JOIN index_created AS i ON i.crawl_key = m.crawl_key AND i.digest_key = m.digest_key
