-- {target}.cascade_edges: what deleting a manifest drags along in its repository, as edges.
--
-- `index child`: from an index present in the repository to a child manifest present there
-- that no tag points at (distribution keeps such a child as an untagged revision holding its
-- blobs once the index is gone). `referrer`: from a subject to a manifest that refers to it,
-- through the referrers table or its own subject field. What the deletion cascade
-- (sql/cascade_step.sql) follows, one join per step.
WITH children AS (
    SELECT p.crawl_key, p.repo_key, c.digest_key AS from_key, c.child_key AS to_key,
           c.child_digest AS to_digest
    FROM {target}.index_children AS c
    JOIN {target}.manifests AS p ON p.crawl_key = c.crawl_key AND p.digest_key = c.digest_key
    JOIN {target}.manifests AS m
      ON m.crawl_key = c.crawl_key AND m.repo_key = p.repo_key AND m.digest_key = c.child_key
    WHERE NOT m.tagged
),
referrers AS (
    SELECT crawl_key, repo_key, subject_key AS from_key, digest_key AS to_key, digest AS to_digest
    FROM {target}.referrers
    UNION
    SELECT crawl_key, repo_key, subject_key, digest_key, digest
    FROM {target}.manifests
    WHERE subject_digest IS NOT NULL
)
SELECT DISTINCT crawl_key, repo_key, from_key, to_key, to_digest, 'index child' AS reason FROM children
UNION ALL
SELECT crawl_key, repo_key, from_key, to_key, to_digest, 'referrer' FROM referrers
