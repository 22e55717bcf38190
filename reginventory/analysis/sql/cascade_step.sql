-- One step of the deletion cascade: the manifests that the last step's rows drag along.
--
-- reginventory.analysis.deletions.expand_deletions runs it until a step adds nothing. Only the
-- rows the previous step added (deletion_delta; the requested manifests at first) can drag in
-- something new, so each step joins those, not the whole closure (semi-naive evaluation). Two
-- rules:
-- 1. a child of a deleted index, in the same repository, that no tag points at and that no
--    remaining index of that repository references (distribution keeps such children as
--    untagged revisions that still hold their blobs). A child held by a second index is
--    reached again when that index joins the closure: it is then in the delta itself;
-- 2. a referrer (signature, attestation, SBOM...) whose subject is deleted, in the same
--    repository, whether found through the referrers table or a manifest's subject field.
-- Both follow keyed.cascade_edges. Fills deletion_step with the new rows; the caller appends
-- them to deletion_closure.
CREATE OR REPLACE TEMP TABLE deletion_step AS
WITH edges AS (
    SELECT d.registry, d.repository, e.to_digest AS digest, e.reason, d.digest AS cause,
           d.repo_key, e.to_key AS digest_key, d.digest_key AS cause_key
    FROM deletion_delta AS d
    JOIN keyed.cascade_edges AS e ON e.repo_key = d.repo_key AND e.from_key = d.digest_key
),
found AS (
    SELECT * FROM edges WHERE reason = 'referrer'
    UNION ALL
    -- a child goes once every index of its repository that lists it is deleted
    SELECT * FROM edges AS c
    WHERE c.reason = 'index child'
      AND NOT EXISTS (
          SELECT 1 FROM keyed.cascade_edges AS h
          WHERE h.reason = 'index child' AND h.repo_key = c.repo_key AND h.to_key = c.digest_key
            AND NOT EXISTS (
                SELECT 1 FROM deletion_closure AS x
                WHERE x.repo_key = h.repo_key AND x.digest_key = h.from_key))
),
candidates AS MATERIALIZED (
    SELECT row_number() OVER () AS n, *
    FROM found AS f
    WHERE NOT EXISTS (
        SELECT 1 FROM deletion_closure AS x
        WHERE x.repo_key = f.repo_key AND x.digest_key = f.digest_key)
),
-- a manifest found several ways (the child of two deleted indexes, a referrer of two subjects) is added
-- once: the first reason, then the lowest cause key. The keys name the manifest, so the
-- grouping is on them alone (strings in an aggregate cost ten times as much).
chosen AS (
    SELECT arg_min(n, {'reason': reason, 'cause_key': cause_key}) AS n
    FROM candidates
    GROUP BY repo_key, digest_key
)
SELECT registry, repository, digest, reason, cause, repo_key, digest_key
FROM candidates
SEMI JOIN chosen USING (n)
