-- {target}.tags: tags with integer join keys.
SELECT *, hash(registry, crawl_id) AS crawl_key, hash(registry, repository) AS repo_key,
       hash(registry, digest) AS digest_key
FROM {source}.tags
