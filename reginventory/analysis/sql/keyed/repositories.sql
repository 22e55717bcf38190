-- {target}.repositories: the names behind repo_key, for every repository with a tag or a manifest,
-- with its counts: `tags`, `images` (distinct digests its tags point at), `manifests` (distinct
-- manifest revisions present). One aggregation over both tables and no window, so that a
-- filter on crawl_id reaches the snapshot scans of a crawl read from Parquet.
SELECT crawl_id, crawl_key, repo_key, any_value(registry) AS registry,
       any_value(repository) AS repository,
       count(*) FILTER (WHERE is_tag) AS tags,
       count(DISTINCT digest_key) FILTER (WHERE is_tag) AS images,
       count(DISTINCT digest_key) FILTER (WHERE NOT is_tag) AS manifests
FROM (
    SELECT crawl_id, crawl_key, repo_key, registry, repository, digest_key, true AS is_tag
    FROM {target}.tags
    UNION ALL
    SELECT crawl_id, crawl_key, repo_key, registry, repository, digest_key, false
    FROM {target}.manifests
)
GROUP BY crawl_id, crawl_key, repo_key
