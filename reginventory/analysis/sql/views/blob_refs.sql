-- blob_refs: which manifest revision (registry, repository, digest) references which blob.
--
-- The readable form of {target}.blob_refs (see there for the garbage collection semantics).
-- Columns: registry, crawl_id, repository, digest (the manifest revision), blob_digest,
-- kind (manifest | config | layer), size, foreign.
WITH revisions AS (
    SELECT DISTINCT crawl_key, crawl_id, repo_key, digest_key, digest FROM {target}.manifests
)
SELECT p.registry, v.crawl_id, p.repository, v.digest, n.digest AS blob_digest, r.kind, r.size, r."foreign"
FROM {target}.blob_refs AS r
JOIN {target}.repositories AS p ON p.crawl_key = r.crawl_key AND p.repo_key = r.repo_key
JOIN revisions AS v
  ON v.crawl_key = r.crawl_key AND v.repo_key = r.repo_key AND v.digest_key = r.digest_key
JOIN {target}.blob_names AS n ON n.crawl_key = r.crawl_key AND n.blob_key = r.blob_key
