-- What garbage collection frees once deletion_closure is deleted, counted from the deleted side:
-- fills deletion_freed (one row per freed blob; sql/deletion_freed_repositories.sql adds the
-- repositories that referenced each). reginventory.analysis.deletions.load_freed
-- runs it when the closure holds at most half of the manifest revisions (otherwise
-- deletion_freed_kept.sql, which gives the same rows from the remaining side).
--
-- CNCF distribution collects garbage by mark and sweep over the whole registry: a blob is
-- freed when no remaining manifest revision of any repository references it, that is when
-- every row of keyed.blob_refs naming it comes from a deleted revision (blob_revisions.refs
-- counts them all). Foreign layers are not stored by the registry and never count.
CREATE OR REPLACE TEMP TABLE deletion_refs AS
SELECT r.blob_key, count(*) AS refs
FROM keyed.blob_refs AS r
SEMI JOIN deletion_closure AS d ON d.repo_key = r.repo_key AND d.digest_key = r.digest_key
GROUP BY r.blob_key;

-- deletion_refs is a table first, so that the join below builds its hash table on it, the
-- smaller side
CREATE OR REPLACE TEMP TABLE deletion_freed AS
-- owner_key: the one repository that references the blob, when there is one (owned_size: its
-- size there)
SELECT b.crawl_key, b.blob_key, b.size, b.owner_key, b.owned_size
FROM keyed.blob_revisions AS b
JOIN deletion_refs AS t ON t.blob_key = b.blob_key
WHERE b.refs = t.refs AND NOT b."foreign";

DROP TABLE deletion_refs;
