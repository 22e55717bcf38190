-- {target}.manifests: manifests with integer join keys; the columns the queries read (labels,
-- annotations and the other descriptive columns stay in the snapshot view).
SELECT registry, crawl_id, repository, digest, media_type, kind, tagged, manifest_size,
       config_digest, config_size, layers_size, layer_count, total_size, created, os, architecture, variant,
       artifact_type, subject_digest, first_seen, last_seen,
       hash(registry, crawl_id) AS crawl_key,
       hash(registry, repository) AS repo_key,
       hash(registry, digest) AS digest_key,
       hash(registry, config_digest) AS config_key,
       hash(registry, subject_digest) AS subject_key
FROM {source}.manifests
