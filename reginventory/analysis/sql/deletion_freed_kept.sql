-- What garbage collection frees once deletion_closure is deleted, worked out from the remaining
-- side: fills deletion_freed with one row per freed blob, the same rows as deletion_freed.sql.
-- reginventory.analysis.deletions.load_freed runs it when the closure holds more than half of
-- the manifest revisions: the remaining revisions' references are then the fewer rows to group.
--
-- A blob (every blob of blob_revisions has at least one reference) is freed when no remaining
-- revision references it. Foreign layers are not stored by the registry and never count.
CREATE OR REPLACE TEMP TABLE deletion_freed AS
WITH kept AS (
    SELECT DISTINCT r.blob_key
    FROM keyed.blob_refs AS r
    ANTI JOIN deletion_closure AS d ON d.repo_key = r.repo_key AND d.digest_key = r.digest_key
)
SELECT b.crawl_key, b.blob_key, b.size
FROM keyed.blob_revisions AS b
ANTI JOIN kept AS k ON k.blob_key = b.blob_key
WHERE NOT b."foreign"
