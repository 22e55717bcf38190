-- {target}.repo_blobs: per repository, the blobs its manifest revisions reference.
--
-- One row per repository, blob, size and foreign flag (a blob's rows agree on both in a sane
-- snapshot), with `refs` the blob_refs rows behind it. What repo_sizes, growth and the
-- per-blob counts of blob_revisions start from: half the rows of blob_refs.
SELECT crawl_id, crawl_key, repo_key, blob_key, size, "foreign", count(*) AS refs
FROM {target}.blob_refs
GROUP BY crawl_id, crawl_key, repo_key, blob_key, size, "foreign"
