-- {target}.layer_prefixes: per image manifest and k, a fingerprint of its first k layers.
--
-- What base_images compares: `prefix` is the 64-bit hash of the running sum (exact, 128-bit) of
-- the 64-bit hashes of each layer's key and position, an order-dependent fingerprint of the
-- first k layers, with n the manifest's layer count. Two different prefixes of the same length
-- share a fingerprint about as often as two digests share a key (see
-- reginventory.analysis.keyed): integer keys join several times faster than wider ones. The
-- window sorts every layer row, which is the slow part of base_images: as a keyed table it is
-- computed once per crawl and kept in the derived cache. Only manifests of kind image count
-- (base_images compares images): signatures and other artifacts have layers too.
SELECT crawl_id, crawl_key, digest_key,
       row_number() OVER w AS k,
       count(*) OVER (PARTITION BY crawl_key, digest_key) AS n,
       hash(sum(hash(layer_key, position)::HUGEINT) OVER w) AS prefix
FROM {target}.layers AS l
SEMI JOIN (SELECT DISTINCT crawl_key, digest_key FROM {target}.manifests WHERE kind = 'image') AS i
  ON i.crawl_key = l.crawl_key AND i.digest_key = l.digest_key
WINDOW w AS (PARTITION BY crawl_key, digest_key ORDER BY position ROWS UNBOUNDED PRECEDING)
