-- {target}.tag_facts: each tag with what the queries read about its manifest.
--
-- The tag's manifest revision (kind, size, layer count) and its digest's facts (platforms,
-- effective creation time), joined once for tags, stale_tags, platforms, duplicates and the
-- report. `referrer` marks a tag whose manifest is a signature, attestation or SBOM or has a
-- subject; `listed_referrer` a tag whose manifest the referrers table lists.
-- `newest_rank` numbers the tags of a repository that are not referrers, newest image first
-- (then by tag name; unknown creation times last): 1 is the newest, null for referrer tags.
WITH facts AS (
    SELECT t.registry, t.crawl_id, t.crawl_key, t.repository, t.repo_key, t.tag, t.digest,
           t.digest_key, t.media_type, t.first_seen, t.last_seen,
           m.kind, m.total_size AS size, m.layer_count, m.layers_size, f.created, f.platforms,
           coalesce(m.kind, '') IN ('signature', 'attestation', 'sbom')
               OR m.subject_digest IS NOT NULL AS referrer,
           EXISTS (
               SELECT 1 FROM {target}.referrers AS r
               WHERE r.repo_key = t.repo_key AND r.digest_key = t.digest_key
                 AND r.crawl_key = t.crawl_key) AS listed_referrer
    FROM {target}.tags AS t
    LEFT JOIN {target}.manifests AS m
      ON m.crawl_key = t.crawl_key AND m.repo_key = t.repo_key AND m.digest_key = t.digest_key
    LEFT JOIN {target}.manifest_facts AS f
      ON f.crawl_key = t.crawl_key AND f.digest_key = t.digest_key
)
SELECT *,
       CASE WHEN NOT referrer AND NOT listed_referrer THEN
           row_number() OVER (
               PARTITION BY crawl_key, repo_key, referrer OR listed_referrer
               ORDER BY created DESC NULLS LAST, tag
           )
       END AS newest_rank
FROM facts
