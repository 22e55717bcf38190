-- deletion_freed_repositories: each freed blob (deletion_freed) with each repository that
-- referenced it, and its size there: a freed blob loses every reference, so these are the rows
-- of repo_blobs that name it. Most freed blobs have one repository, which deletion_freed
-- already names (owner_key, owned_size); only the others are looked up in repo_blobs.
-- reginventory.analysis.deletions.load_freed runs it after either way of filling deletion_freed.
CREATE OR REPLACE TEMP TABLE deletion_freed_repositories AS
SELECT owner_key AS repo_key, blob_key, owned_size AS size
FROM deletion_freed
WHERE owner_key IS NOT NULL
UNION ALL
SELECT r.repo_key, r.blob_key, r.size
FROM keyed.repo_blobs AS r
SEMI JOIN (SELECT blob_key FROM deletion_freed WHERE owner_key IS NULL) AS f
  ON f.blob_key = r.blob_key
