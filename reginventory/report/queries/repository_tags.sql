-- repository_tags: the newest tags of some repositories, with their labels and annotations.
--
-- For the per-repository sections of the report: up to $per_repository tags per repository,
-- newest first (by creation time, then first seen, then tag). Referrer tags are left out, as in
-- stale_tags. Labels are the image config's labels; an index shows those of its first image
-- child in the same repository. Annotations are the manifest's own.
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
    SELECT registry, repository, tag, digest, kind, created, size,
           coalesce(platforms, CAST([] AS VARCHAR[])) AS platforms, first_seen
    FROM keyed.tag_facts
    WHERE list_contains(CAST($repositories AS VARCHAR[]), repository) AND NOT referrer
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
shown AS (
    SELECT * FROM ranked WHERE rank <= CAST($per_repository AS INTEGER)
),
-- labels and annotations stay in the snapshot (maps are costly to load): read those of the
-- listed repositories only, a filter that reaches the Parquet scan
described AS (
    SELECT registry, repository, digest, labels, annotations
    FROM manifests
    WHERE list_contains(CAST($repositories AS VARCHAR[]), repository)
),
first_child AS (
    -- an index shows the labels of its first image child (in the same repository)
    SELECT s.registry, s.repository, s.digest, arg_min(c.child_digest, c.position) AS child_digest
    FROM shown AS s
    JOIN keyed.index_children AS c ON c.digest_key = hash(s.registry, s.digest)
    WHERE s.kind = 'index' AND c.kind = 'image'
    GROUP BY ALL
)
SELECT s.registry, s.repository, s.tag, s.digest, s.kind, s.created, s.size, s.platforms,
       coalesce(d.labels, cd.labels) AS labels, d.annotations, s.first_seen, s.tag_count
FROM shown AS s
LEFT JOIN described AS d
  ON d.registry = s.registry AND d.repository = s.repository AND d.digest = s.digest
LEFT JOIN first_child AS fc
  ON fc.registry = s.registry AND fc.repository = s.repository AND fc.digest = s.digest
LEFT JOIN described AS cd
  ON cd.registry = fc.registry AND cd.repository = fc.repository AND cd.digest = fc.child_digest
ORDER BY s.registry, s.repository, s.rank
