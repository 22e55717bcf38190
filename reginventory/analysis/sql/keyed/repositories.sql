-- {target}.repositories: the names behind repo_key, for every repository with a tag or a manifest.
-- `position` numbers them by registry and name, for queries that sort long results by
-- repository without comparing the names row by row.
SELECT *, row_number() OVER (ORDER BY registry, repository) AS position
FROM (
    SELECT crawl_id, crawl_key, repo_key, any_value(registry) AS registry,
           any_value(repository) AS repository
    FROM (
        SELECT crawl_id, crawl_key, repo_key, registry, repository FROM {target}.tags
        UNION ALL
        SELECT crawl_id, crawl_key, repo_key, registry, repository FROM {target}.manifests
    )
    GROUP BY crawl_id, crawl_key, repo_key
)
