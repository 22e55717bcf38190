-- {target}.repositories: the names behind repo_key, for every repository with a tag or a manifest,
-- with its counts: `tags`, `images` (distinct digests its tags point at), `manifests` (distinct
-- manifest revisions present). `position` numbers them by registry and name, for queries that
-- sort long results by repository without comparing the names row by row.
WITH names AS (
    SELECT crawl_id, crawl_key, repo_key, any_value(registry) AS registry,
           any_value(repository) AS repository
    FROM (
        SELECT crawl_id, crawl_key, repo_key, registry, repository FROM {target}.tags
        UNION ALL
        SELECT crawl_id, crawl_key, repo_key, registry, repository FROM {target}.manifests
    )
    GROUP BY crawl_id, crawl_key, repo_key
),
tag_counts AS (
    SELECT crawl_key, repo_key, count(*) AS tags, count(DISTINCT digest_key) AS images
    FROM {target}.tags
    GROUP BY crawl_key, repo_key
),
manifest_counts AS (
    SELECT crawl_key, repo_key, count(DISTINCT digest_key) AS manifests
    FROM {target}.manifests
    GROUP BY crawl_key, repo_key
)
SELECT n.*,
       coalesce(t.tags, 0) AS tags,
       coalesce(t.images, 0) AS images,
       coalesce(m.manifests, 0) AS manifests,
       row_number() OVER (ORDER BY n.registry, n.repository) AS position
FROM names AS n
LEFT JOIN tag_counts AS t ON t.crawl_key = n.crawl_key AND t.repo_key = n.repo_key
LEFT JOIN manifest_counts AS m ON m.crawl_key = n.crawl_key AND m.repo_key = n.repo_key
