-- duplicates: tags that point at the same digest, and different images with identical layers.
--
-- Two kinds of group, told apart by `match`:
-- - `digest`: two or more tags, in one repository or across repositories, point at one digest;
-- - `layers`: two or more different image digests, each tagged, have the same set of layers
--   (they differ only in their config: a rebuild with new labels or history, for instance).
-- Layer sets are compared through a 128-bit order-free fingerprint (a count and two sums of
-- 64-bit hashes of the layer digests).
--
-- Parameters:
--   (none)
-- Columns:
--   registry VARCHAR: the registry host
--   match VARCHAR: digest | layers
--   digests VARCHAR[]: the digests of the group, sorted
--   tags VARCHAR[]: repository:tag of every tag in the group, sorted
--   repositories BIGINT: distinct repositories of those tags
--   tag_count BIGINT: tags in the group
--   layer_count INTEGER: layers of the image (null for an index)
--   size BIGINT: compressed bytes of one image of the group (the largest)
WITH tagged AS NOT MATERIALIZED (
    -- a view of tag_facts, read where needed (a copy of its strings costs more than a scan)
    SELECT registry, repository, tag, digest, digest_key, kind, size AS total_size, layer_count,
           layers_size
    FROM keyed.tag_facts
),
shared_digests AS (
    SELECT digest_key FROM tagged GROUP BY digest_key HAVING count(*) > 1
),
by_digest AS (
    SELECT any_value(t.registry) AS registry, 'digest' AS match, [any_value(t.digest)] AS digests,
           list(t.repository || ':' || t.tag ORDER BY t.repository, t.tag) AS tags,
           count(DISTINCT t.repository) AS repositories,
           count(*) AS tag_count,
           max(t.layer_count) AS layer_count,
           max(t.total_size) AS size
    FROM tagged AS t
    SEMI JOIN shared_digests AS s ON s.digest_key = t.digest_key
    GROUP BY t.digest_key
),
image_shapes AS MATERIALIZED (
    SELECT DISTINCT digest_key, layer_count, layers_size FROM tagged WHERE kind = 'image'
),
images AS (
    -- identical layer sets imply the same layer count and layer bytes: only such images
    -- need their layers compared
    SELECT i.digest_key
    FROM image_shapes AS i
    SEMI JOIN (
        SELECT layer_count, layers_size FROM image_shapes
        GROUP BY layer_count, layers_size HAVING count(*) > 1
    ) AS g
      ON g.layer_count IS NOT DISTINCT FROM i.layer_count
     AND g.layers_size IS NOT DISTINCT FROM i.layers_size
),
layer_sets AS MATERIALIZED (
    SELECT digest_key, count(*) AS n, sum(layer_key::HUGEINT) AS s1,
           sum(hash(layer_key, 'set')::HUGEINT) AS s2
    FROM (
        SELECT DISTINCT l.digest_key, l.layer_key
        FROM keyed.layers AS l
        SEMI JOIN images AS i ON i.digest_key = l.digest_key
    )
    GROUP BY digest_key
),
same_layers AS (
    SELECT n, s1, s2 FROM layer_sets GROUP BY n, s1, s2 HAVING count(*) > 1
),
by_layers AS (
    SELECT any_value(t.registry) AS registry, 'layers' AS match,
           list(DISTINCT t.digest ORDER BY t.digest) AS digests,
           list(t.repository || ':' || t.tag ORDER BY t.repository, t.tag) AS tags,
           count(DISTINCT t.repository) AS repositories,
           count(*) AS tag_count,
           max(t.layer_count) AS layer_count,
           max(t.total_size) AS size
    FROM layer_sets AS s
    SEMI JOIN same_layers AS g ON g.n = s.n AND g.s1 = s.s1 AND g.s2 = s.s2
    JOIN tagged AS t ON t.digest_key = s.digest_key
    GROUP BY s.n, s.s1, s.s2
)
SELECT * FROM by_digest
UNION ALL
SELECT * FROM by_layers
ORDER BY registry, match, size DESC, tags
