-- {target}.blob_revisions: per blob, how many references manifest revisions make to it, and
-- whether a manifest lists it as a foreign layer (not stored by the registry).
--
-- `refs` counts rows of blob_refs (a layer listed twice counts twice); reclaimable counts the
-- deleted revisions' rows the same way, so a blob is freed when the two counts are equal.
SELECT crawl_key, blob_key, count(*) AS refs, bool_or("foreign") AS "foreign"
FROM {target}.blob_refs
GROUP BY crawl_key, blob_key
