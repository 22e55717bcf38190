-- {target}.index_children: index children with integer join keys.
SELECT registry, crawl_id, hash(registry, crawl_id) AS crawl_key,
       hash(registry, digest) AS digest_key, position,
       hash(registry, child_digest) AS child_key, child_digest, child_size, platform, kind
FROM {source}.index_children
