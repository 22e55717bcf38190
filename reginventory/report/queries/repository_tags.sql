-- repository_tags: the newest tags of some repositories, with their labels and annotations.
--
-- For the per-repository sections of the report: up to $per_repository tags per repository,
-- newest first (by creation time, then first seen, then tag). Referrer tags are left out, as in
-- stale_tags. Labels are the image config's labels; an index shows those of its first image
-- child. Annotations are the manifest's own.
--
-- Parameters:
--   repositories VARCHAR[]: the repositories (of any registry) to list
--   per_repository INTEGER = 20: tags per repository
-- Columns:
--   registry VARCHAR: the registry host
--   repository VARCHAR: the repository path
--   tag VARCHAR: the bare tag
--   digest VARCHAR: the manifest the tag points at
--   kind VARCHAR: image | index | artifact
--   created TIMESTAMP WITH TIME ZONE: when the image was built; null when unknown
--   size BIGINT: compressed bytes (config + layers; for an index, its children's unique blobs)
--   platforms VARCHAR[]: os/arch[/variant]
--   labels MAP: the image config's labels
--   annotations MAP: the manifest's annotations
--   first_seen TIMESTAMP WITH TIME ZONE: the first crawl that saw this tag at this digest
--   tag_count BIGINT: tags of the repository (referrer tags excluded)
WITH candidates AS (
    SELECT t.registry, t.repository, t.tag, t.digest, m.kind, f.created, m.total_size AS size,
           coalesce(f.platforms, CAST([] AS VARCHAR[])) AS platforms,
           m.labels, m.annotations, t.first_seen
    FROM tags AS t
    LEFT JOIN manifests AS m
      ON m.registry = t.registry AND m.repository = t.repository AND m.digest = t.digest
    LEFT JOIN manifest_facts AS f ON f.registry = t.registry AND f.digest = t.digest
    WHERE list_contains(CAST($repositories AS VARCHAR[]), t.repository)
      AND coalesce(m.kind, '') NOT IN ('signature', 'attestation', 'sbom')
      AND m.subject_digest IS NULL
),
ranked AS (
    SELECT *,
           row_number() OVER (
               PARTITION BY registry, repository
               ORDER BY created DESC NULLS LAST, first_seen DESC, tag
           ) AS rank,
           count(*) OVER (PARTITION BY registry, repository) AS tag_count
    FROM candidates
),
first_child AS (
    SELECT c.registry, c.digest, arg_min(c.child_digest, c.position) AS child_digest
    FROM index_children AS c
    WHERE c.kind = 'image'
      AND (c.registry, c.digest) IN (SELECT registry, digest FROM ranked WHERE kind = 'index')
    GROUP BY ALL
),
child_labels AS (
    SELECT fc.registry, fc.digest, any_value(m.labels) AS labels
    FROM first_child AS fc
    JOIN manifests AS m ON m.registry = fc.registry AND m.digest = fc.child_digest
    GROUP BY ALL
)
SELECT r.registry, r.repository, r.tag, r.digest, r.kind, r.created, r.size, r.platforms,
       coalesce(r.labels, c.labels) AS labels, r.annotations, r.first_seen, r.tag_count
FROM ranked AS r
LEFT JOIN child_labels AS c ON c.registry = r.registry AND c.digest = r.digest
WHERE r.rank <= CAST($per_repository AS INTEGER)
ORDER BY r.registry, r.repository, r.rank
