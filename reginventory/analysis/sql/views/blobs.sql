-- blobs: one row per registry and blob digest that some manifest revision references.
--
-- Columns: registry, crawl_id, digest (the blob), kind (manifest | config | layer; a blob used
-- both ways counts as manifest, then config), size, foreign (some manifest lists it as a
-- foreign layer: not stored by the registry), repositories and manifests that reference it.
SELECT registry, crawl_id, blob_digest AS digest,
       CASE min(CASE kind WHEN 'manifest' THEN 1 WHEN 'config' THEN 2 ELSE 3 END)
           WHEN 1 THEN 'manifest' WHEN 2 THEN 'config' ELSE 'layer' END AS kind,
       max(size) AS size,
       bool_or("foreign") AS "foreign",
       count(DISTINCT repository) AS repositories,
       count(DISTINCT digest) AS manifests
FROM blob_refs
GROUP BY registry, crawl_id, blob_digest
