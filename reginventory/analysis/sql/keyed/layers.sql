-- {target}.layers: layers with integer join keys. The manifest digest and media type stay in
-- the snapshot view (strings are what makes loading slow); layer_digest names the blob.
SELECT registry, crawl_id, hash(registry, crawl_id) AS crawl_key,
       hash(registry, digest) AS digest_key, position,
       hash(registry, layer_digest) AS layer_key, layer_digest, size, "foreign"
FROM {source}.layers
