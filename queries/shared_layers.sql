-- shared_layers: layers that more than one image or repository uses, and what sharing saves.
--
-- Images are distinct manifest digests that list the layer (index children included). The
-- registry stores a layer once, however many images use it: `saved_size` is what storing one
-- copy per image would cost on top.
--
-- Parameters:
--   (none)
-- Columns:
--   registry VARCHAR: the registry host
--   digest VARCHAR: the layer blob
--   size BIGINT: compressed bytes of the layer
--   foreign BOOLEAN: a foreign layer, not stored by the registry
--   images BIGINT: distinct manifests that list it
--   repositories BIGINT: distinct repositories whose manifests list it
--   saved_size BIGINT: size times (images - 1)
WITH shared AS (
    -- counted once per crawl (the keyed table layer_shares)
    SELECT layer_key AS blob_key, images, repositories, size, "foreign" FROM keyed.layer_shares
),
names AS (
    SELECT layer_key, any_value(registry) AS registry, any_value(layer_digest) AS digest
    FROM keyed.layers
    SEMI JOIN shared AS s ON s.blob_key = layer_key
    GROUP BY layer_key
)
SELECT n.registry, n.digest, s.size, s."foreign", s.images, s.repositories,
       CAST(s.size * (s.images - 1) AS BIGINT) AS saved_size
FROM shared AS s
JOIN names AS n ON n.layer_key = s.blob_key
ORDER BY saved_size DESC, n.registry, n.digest
