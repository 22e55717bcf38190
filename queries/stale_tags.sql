-- stale_tags: tags whose image is older than $days, outside the newest $keep of their repository.
--
-- A tag is stale when its image was created more than $days days before $as_of, when it is
-- not among the $keep newest tags of its repository (newest by creation time, then by tag
-- name; protected tags count towards the newest too), and when it does not match $protect.
-- Tags of unknown creation time are never stale. Referrer tags (cosign `sha256-<hex>.sig`,
-- signatures, attestations, SBOMs) follow their subject and are left out.
-- Deleting a manifest deletes every tag pointing at it: `kept_tags` lists the tags of the same
-- repository and digest that are not stale (a planner should untag rather than delete then).
--
-- Parameters:
--   days INTEGER = 90: minimum age in days
--   as_of TIMESTAMP = now: the time ages are measured at
--   keep INTEGER = 3: the newest tags of each repository that are never stale
--   protect VARCHAR = '^latest$': tags matching this regular expression are never stale; null for none
-- Columns:
--   registry VARCHAR: the registry host
--   repository VARCHAR: the repository path
--   tag VARCHAR: the bare tag
--   digest VARCHAR: the manifest the tag points at
--   kind VARCHAR: image | index | artifact
--   created TIMESTAMP WITH TIME ZONE: when the image was built
--   size BIGINT: compressed bytes of the image
--   age_days INTEGER: whole days between created and as_of
--   newest_rank BIGINT: 1 for the newest tag of the repository
--   kept_tags VARCHAR[]: tags of the same repository and digest that are not stale
--   reason VARCHAR: why it is stale, in words
WITH positions AS (
    -- repositories by registry and name: sorting on this number is faster than on the names
    SELECT repo_key, row_number() OVER (ORDER BY registry, repository) AS position
    FROM keyed.repositories
),
ranked AS (
    -- newest_rank is worked out once per crawl, in tag_facts
    SELECT registry, repository, repo_key, tag, digest, digest_key, kind, created, size,
           newest_rank,
           CAST(floor((epoch(CAST($as_of AS TIMESTAMPTZ)) - epoch(created)) / 86400) AS INTEGER)
               AS age_days,
           created < CAST($as_of AS TIMESTAMPTZ) - to_days(CAST($days AS INTEGER)) AS old_enough
    FROM keyed.tag_facts
    WHERE NOT referrer AND NOT listed_referrer
),
judged AS MATERIALIZED (
    SELECT *,
           coalesce(old_enough, false)
           AND newest_rank > CAST($keep AS INTEGER)
           AND NOT coalesce(regexp_matches(tag, CAST($protect AS VARCHAR)), false) AS stale
    FROM ranked
),
kept AS (
    SELECT k.repo_key, k.digest_key, list(k.tag ORDER BY k.tag) AS kept_tags
    FROM judged AS k
    SEMI JOIN (SELECT DISTINCT repo_key, digest_key FROM judged WHERE stale) AS s
      ON s.repo_key = k.repo_key AND s.digest_key = k.digest_key
    WHERE NOT k.stale
    GROUP BY k.repo_key, k.digest_key
)
SELECT s.registry, s.repository, s.tag, s.digest, s.kind, s.created, s.size, s.age_days,
       s.newest_rank,
       coalesce(k.kept_tags, CAST([] AS VARCHAR[])) AS kept_tags,
       -- one concat of the per-row values and the constant parts (built once, not per row)
       concat(
           'created ', s.age_days,
           ' days before ' || strftime(CAST($as_of AS TIMESTAMPTZ), '%Y-%m-%d')
               || ' (more than ' || CAST($days AS INTEGER) || '); newest #',
           s.newest_rank,
           ' of its repository (keeps ' || CAST($keep AS INTEGER) || ')'
               || CASE WHEN $protect IS NULL THEN '' ELSE '; not matching ' || $protect END
       ) AS reason
FROM judged AS s
JOIN positions AS p ON p.repo_key = s.repo_key
LEFT JOIN kept AS k ON k.repo_key = s.repo_key AND k.digest_key = s.digest_key
WHERE s.stale
ORDER BY p.position, s.created, s.tag
