-- cascade: the manifests a deletion set removes, once expanded as distribution requires.
--
-- Deleting an index on CNCF distribution leaves its children as untagged revisions that keep
-- their blobs, and leaves the signatures, attestations and SBOMs of a deleted subject behind.
-- The cascade adds, until nothing more comes: each untagged child of a deleted index, in the
-- same repository, that no remaining index of that repository references; and each referrer
-- whose subject is deleted. A plan should delete every row, children and referrers first.
--
-- Parameters:
--   deletions DELETIONS: the manifests to delete: a plan JSON file, a Parquet or CSV file, or a
--       table or view with registry, repository, digest (from Python also a list or DataFrame)
--   expand BOOLEAN = true: add the cascade; false lists the requested manifests only
-- Columns:
--   registry VARCHAR: the registry host
--   repository VARCHAR: the repository path
--   digest VARCHAR: a manifest to delete
--   kind VARCHAR: image | index | artifact | signature | attestation | sbom; null when absent
--   reason VARCHAR: requested | index child | referrer
--   cause VARCHAR: the deleted index or subject that drags it along; null when requested
--   tags VARCHAR[]: tags that go with it (deleting a digest deletes its tags, cosign tags
--       included), sorted
--   size BIGINT: compressed bytes (config + layers)
--   present BOOLEAN: the manifest is in the snapshot
WITH all_tags AS (
    SELECT repo_key, digest_key, tag FROM keyed.tags
    UNION
    SELECT repo_key, digest_key, tag FROM keyed.referrers WHERE tag IS NOT NULL
),
removed_tags AS (
    SELECT t.repo_key, t.digest_key, list(t.tag ORDER BY t.tag) AS tags
    FROM all_tags AS t
    SEMI JOIN deletion_closure AS d ON d.repo_key = t.repo_key AND d.digest_key = t.digest_key
    GROUP BY t.repo_key, t.digest_key
)
SELECT d.registry, d.repository, d.digest, m.kind, d.reason, d.cause,
       coalesce(t.tags, CAST([] AS VARCHAR[])) AS tags,
       m.total_size AS size,
       m.digest IS NOT NULL AS present
FROM deletion_closure AS d
LEFT JOIN keyed.manifests AS m ON m.repo_key = d.repo_key AND m.digest_key = d.digest_key
LEFT JOIN removed_tags AS t ON t.repo_key = d.repo_key AND t.digest_key = d.digest_key
ORDER BY d.registry, d.repository,
         CASE d.reason WHEN 'requested' THEN 1 WHEN 'index child' THEN 2 ELSE 3 END, d.digest
