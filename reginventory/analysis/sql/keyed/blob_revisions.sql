-- {target}.blob_revisions: per blob, how many references manifest revisions make to it, and
-- whether a manifest lists it as a foreign layer (not stored by the registry).
--
-- `refs` counts rows of blob_refs (a layer listed twice counts twice); reclaimable counts the
-- deleted revisions' rows the same way, so a blob is freed when the two counts are equal.
-- `owners` counts the repositories that reference it as a stored blob (repo_sizes' unique
-- bytes), `size` is its largest recorded size (the stored bytes of crawl_totals). For a blob
-- with one owner, `owner_key` is that repository and `owned_size` its size there (otherwise
-- owner_key is null).
SELECT crawl_key, blob_key, CAST(sum(refs) AS BIGINT) AS refs, bool_or("foreign") AS "foreign",
       count(*) FILTER (WHERE NOT "foreign") AS owners, max(size) AS size,
       CASE WHEN count(*) FILTER (WHERE NOT "foreign") = 1
           THEN min(repo_key) FILTER (WHERE NOT "foreign") END AS owner_key,
       max(size) FILTER (WHERE NOT "foreign") AS owned_size
FROM {target}.repo_blobs
GROUP BY crawl_key, blob_key
