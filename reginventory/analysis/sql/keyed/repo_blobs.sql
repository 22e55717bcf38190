-- {target}.repo_blobs: per repository, the blobs its manifest revisions reference.
--
-- One row per repository and blob, with its largest recorded size, whether some manifest
-- lists it as a foreign layer (not stored by the registry; the rows agree on both in a sane
-- snapshot), and `refs` the blob_refs rows behind it. What repo_sizes, growth, the per-blob
-- counts of blob_revisions and the repositories of freed blobs start from: half the rows of
-- blob_refs.
SELECT crawl_id, crawl_key, repo_key, blob_key, max(size) AS size, bool_or("foreign") AS "foreign",
       count(*) AS refs
FROM {target}.blob_refs
GROUP BY crawl_id, crawl_key, repo_key, blob_key
