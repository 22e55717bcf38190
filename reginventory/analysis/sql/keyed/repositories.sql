-- {target}.repositories: the names behind repo_key, for every repository with a tag or a manifest.
SELECT crawl_id, crawl_key, repo_key, any_value(registry) AS registry,
       any_value(repository) AS repository
FROM (
    SELECT crawl_id, crawl_key, repo_key, registry, repository FROM {target}.tags
    UNION ALL
    SELECT crawl_id, crawl_key, repo_key, registry, repository FROM {target}.manifests
)
GROUP BY crawl_id, crawl_key, repo_key
