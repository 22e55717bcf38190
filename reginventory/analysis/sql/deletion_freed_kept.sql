-- What garbage collection frees once deletion_closure is deleted, worked out from the remaining
-- side: fills deletion_freed (one row per freed blob), the same rows as deletion_freed.sql.
-- reginventory.analysis.deletions.load_freed runs it when the closure holds more than half of
-- the manifest revisions: the remaining revisions' references are then the fewer rows, and
-- every join below builds its hash table on what stays.
--
-- A blob (every blob of blob_revisions has at least one reference) is freed when no remaining
-- revision references it. Foreign layers are not stored by the registry and never count: they
-- join the blobs that stay.
-- The remaining revisions are found among the manifests first (fewer rows than their
-- references), then their references.
CREATE OR REPLACE TEMP TABLE deletion_kept AS
SELECT DISTINCT r.blob_key
FROM keyed.blob_refs AS r
SEMI JOIN (
    SELECT m.repo_key, m.digest_key
    FROM keyed.manifests AS m
    ANTI JOIN deletion_closure AS d ON d.repo_key = m.repo_key AND d.digest_key = m.digest_key
) AS k ON k.repo_key = r.repo_key AND k.digest_key = r.digest_key
UNION
SELECT blob_key FROM keyed.blob_revisions WHERE "foreign";

CREATE OR REPLACE TEMP TABLE deletion_freed AS
-- owner_key: the one repository that references the blob, when there is one (owned_size: its
-- size there)
SELECT b.crawl_key, b.blob_key, b.size, b.owner_key, b.owned_size
FROM keyed.blob_revisions AS b
ANTI JOIN deletion_kept AS k ON k.blob_key = b.blob_key;

DROP TABLE deletion_kept;
