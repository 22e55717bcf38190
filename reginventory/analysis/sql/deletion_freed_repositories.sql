-- Each freed blob (deletion_freed) with each repository that referenced it, and its size:
-- fills deletion_freed_repositories, which reclaimable groups per repository. A freed blob
-- loses every reference, so the repositories that referenced it are all those of repo_blobs.
CREATE OR REPLACE TEMP TABLE deletion_freed_repositories AS
SELECT r.repo_key, r.blob_key, f.size
FROM keyed.repo_blobs AS r
JOIN deletion_freed AS f ON f.blob_key = r.blob_key
