-- {target}.blob_names: every blob that some manifest revision references, named.
--
-- One row per crawl and blob: its digest, and its kind (manifest | config | layer; a blob used
-- several ways is a manifest, then a config). The same blobs as blob_refs, found through the
-- tables that carry the digest strings: a manifest's own digest, its config, its layers, an
-- index's children. Grouped on the digest itself, not any_value(digest): grouping strings costs
-- more than keying on them (two digests of a registry that hashed to one key would give two
-- rows, about a 1 in 10^6 chance; see reginventory.analysis.keyed).
SELECT crawl_key, blob_key, digest,
       CASE min(kind_rank) WHEN 1 THEN 'manifest' WHEN 2 THEN 'config' ELSE 'layer' END AS kind
FROM (
    SELECT crawl_key, digest_key AS blob_key, digest, 1 AS kind_rank FROM {target}.manifests
    UNION ALL
    SELECT crawl_key, config_key, config_digest, 2 FROM {target}.manifests
    WHERE config_digest IS NOT NULL
    UNION ALL
    SELECT crawl_key, layer_key, layer_digest, 3 FROM {target}.layers
    UNION ALL
    SELECT crawl_key, child_key, child_digest, 1 FROM {target}.index_children
)
GROUP BY crawl_key, blob_key, digest
