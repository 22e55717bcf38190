-- untagged: manifests that no tag points at and no index or subject holds, yet still present.
--
-- On CNCF distribution such a revision keeps its blobs through garbage collection (unless it
-- runs with --delete-untagged, which also destroys every index child). Index children of a
-- present index and referrers are not listed: they are held by their index or subject (see
-- dangling_referrers for referrers whose subject is gone). `reason` says how it became
-- untagged, from the history of earlier crawls.
--
-- Parameters:
--   (none)
-- Columns:
--   registry VARCHAR: the registry host
--   repository VARCHAR: the repository path
--   digest VARCHAR: the untagged manifest
--   media_type VARCHAR: its media type
--   kind VARCHAR: image | index | artifact
--   created TIMESTAMP WITH TIME ZONE: when the image was built; null when unknown
--   size BIGINT: compressed bytes (config + layers; for an index, its children's unique blobs)
--   previous_tags VARCHAR[]: tags that pointed at it in earlier crawls, sorted
--   last_tagged TIMESTAMP WITH TIME ZONE: the last crawl that saw one of those tags
--   reason VARCHAR: lost its tags | child of a deleted index | never tagged
--   first_seen TIMESTAMP WITH TIME ZONE: the first crawl that saw it
--   last_seen TIMESTAMP WITH TIME ZONE: the latest crawl that saw it
WITH held_by_index AS (
    SELECT DISTINCT p.repo_key, c.child_key AS digest_key
    FROM keyed.index_children AS c
    JOIN keyed.manifests AS p ON p.digest_key = c.digest_key
),
candidates AS (
    SELECT m.*
    FROM keyed.manifests AS m
    WHERE NOT m.tagged
      AND m.subject_digest IS NULL
      AND NOT EXISTS (
          SELECT 1 FROM keyed.tags AS t
          WHERE t.repo_key = m.repo_key AND t.digest_key = m.digest_key)
      AND NOT EXISTS (
          SELECT 1 FROM held_by_index AS h
          WHERE h.repo_key = m.repo_key AND h.digest_key = m.digest_key)
      AND NOT EXISTS (
          SELECT 1 FROM keyed.referrers AS r
          WHERE r.repo_key = m.repo_key AND r.digest_key = m.digest_key)
),
previous AS (
    SELECT t.repo_key, t.digest_key,
           list(DISTINCT t.tag ORDER BY t.tag) AS previous_tags,
           max(t.last_seen) AS last_tagged
    FROM history_keyed.tags AS t
    SEMI JOIN candidates AS c ON c.repo_key = t.repo_key AND c.digest_key = t.digest_key
    GROUP BY t.repo_key, t.digest_key
),
former_children AS (
    SELECT DISTINCT p.repo_key, c.child_key AS digest_key
    FROM history_keyed.index_children AS c
    SEMI JOIN candidates AS x ON x.digest_key = c.child_key
    JOIN history_keyed.manifests AS p
      ON p.crawl_key = c.crawl_key AND p.digest_key = c.digest_key
)
SELECT c.registry, c.repository, c.digest, c.media_type, c.kind, f.created,
       c.total_size AS size,
       coalesce(p.previous_tags, CAST([] AS VARCHAR[])) AS previous_tags,
       p.last_tagged,
       CASE
           WHEN p.previous_tags IS NOT NULL THEN 'lost its tags'
           WHEN x.digest_key IS NOT NULL THEN 'child of a deleted index'
           ELSE 'never tagged'
       END AS reason,
       c.first_seen, c.last_seen
FROM candidates AS c
LEFT JOIN previous AS p ON p.repo_key = c.repo_key AND p.digest_key = c.digest_key
LEFT JOIN former_children AS x ON x.repo_key = c.repo_key AND x.digest_key = c.digest_key
LEFT JOIN keyed.manifest_facts AS f ON f.digest_key = c.digest_key
ORDER BY c.registry, c.repository, c.digest
