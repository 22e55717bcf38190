-- {target}.layer_prefixes: per image manifest and k, the fingerprint of its first k layers.
--
-- What base_images compares: two 64-bit running sums of hashes of each layer's key and position
-- (a 128-bit order-dependent fingerprint of the prefix), with n the manifest's layer count. The
-- window sorts every layer row, which is the slow part of base_images: as a keyed table it is
-- computed once per crawl and kept in the derived cache. The sums are DECIMAL(38, 0), the same
-- integers as HUGEINT, because Parquet (the cache) has no 128-bit integer: DuckDB would write
-- a HUGEINT as a DOUBLE. Only manifests of kind image count (base_images compares images):
-- signatures and other artifacts have layers too.
SELECT crawl_id, crawl_key, digest_key,
       row_number() OVER w AS k,
       count(*) OVER (PARTITION BY crawl_key, digest_key) AS n,
       CAST(sum(hash(layer_key, position)::HUGEINT) OVER w AS DECIMAL(38, 0)) AS f1,
       CAST(sum(hash(position, layer_key, 'prefix')::HUGEINT) OVER w AS DECIMAL(38, 0)) AS f2
FROM {target}.layers AS l
SEMI JOIN (SELECT DISTINCT crawl_key, digest_key FROM {target}.manifests WHERE kind = 'image') AS i
  ON i.crawl_key = l.crawl_key AND i.digest_key = l.digest_key
WINDOW w AS (PARTITION BY crawl_key, digest_key ORDER BY position ROWS UNBOUNDED PRECEDING)
