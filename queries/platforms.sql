-- platforms: platform coverage per repository: how many of its tags offer each platform.
--
-- A tag offers the platform of its image, or every platform of its index (attestation children
-- excluded). Referrer tags (signatures, attestations, SBOMs) are not counted.
--
-- Parameters:
--   (none)
-- Columns:
--   registry VARCHAR: the registry host
--   repository VARCHAR: the repository path
--   platform VARCHAR: os/arch[/variant]
--   tags BIGINT: tags that offer it
--   repository_tags BIGINT: tags of the repository (referrer tags excluded)
--   coverage DOUBLE: tags / repository_tags, from 0 to 1
--   images BIGINT: distinct digests that its tags point at and that offer it
WITH tagged AS NOT MATERIALIZED (
    SELECT registry, repository, repo_key, tag, digest_key, platforms
    FROM keyed.tag_facts
    WHERE NOT referrer
),
totals AS (
    SELECT repo_key, count(*) AS repository_tags FROM tagged GROUP BY repo_key
),
offered AS (
    SELECT registry, repository, repo_key, tag, digest_key, unnest(platforms) AS platform
    FROM tagged
)
SELECT any_value(o.registry) AS registry, any_value(o.repository) AS repository, o.platform,
       count(DISTINCT o.tag) AS tags,
       any_value(t.repository_tags) AS repository_tags,
       count(DISTINCT o.tag) / any_value(t.repository_tags) AS coverage,
       count(DISTINCT o.digest_key) AS images
FROM offered AS o
JOIN totals AS t ON t.repo_key = o.repo_key
GROUP BY o.repo_key, o.platform
ORDER BY registry, repository, tags DESC, o.platform
