-- {target}.referrers: referrers with integer join keys.
SELECT *, hash(registry, crawl_id) AS crawl_key, hash(registry, repository) AS repo_key,
       hash(registry, digest) AS digest_key, hash(registry, subject_digest) AS subject_key
FROM {source}.referrers
