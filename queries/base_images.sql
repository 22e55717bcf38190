-- base_images: images whose layers are a prefix of other images' layers, and what builds on them.
--
-- An image B is a base of an image D when D has more layers than B and D's first layers are
-- exactly B's layers, in order. `parent_digest` is the base of the base (an image whose layers
-- are the longest proper prefix among the images present, the newest of them when several
-- share those layers): following it gives the lineage. Images are manifests of kind image
-- with at least one layer, index children included; `tags` names them through their own tags
-- or the tags of an index that lists them. Layer lists and their prefixes are compared
-- through 64-bit order-dependent fingerprints (a hash of the running sum of the hashes of each
-- layer digest and position, the keyed table layer_prefixes), so the work grows with the
-- layers, not with pairs of images.
--
-- Parameters:
--   (none)
-- Columns:
--   registry VARCHAR: the registry host
--   digest VARCHAR: the base image
--   tags VARCHAR[]: repository:tag of the tags that reach it, sorted
--   layer_count INTEGER: its layers
--   size BIGINT: compressed bytes of the image (config + layers)
--   parent_digest VARCHAR: its own base, the longest proper prefix; null when none
--   derived_images BIGINT: distinct images that build on it
--   derived_repositories BIGINT: distinct repositories holding those images
WITH steps AS NOT MATERIALIZED (
    -- for each image and k, the fingerprint of its first k layers (n: all its layers)
    SELECT digest_key, k, n, prefix FROM keyed.layer_prefixes
),
chains AS MATERIALIZED (
    -- distinct layer lists; `chain` identifies one
    SELECT row_number() OVER () AS chain, n, prefix
    FROM (SELECT DISTINCT n, prefix FROM steps WHERE k = n)
),
edges AS MATERIALIZED (
    -- image `derived` builds on chain `base`: its first base_n layers are the base's layers
    SELECT b.chain AS base, b.n AS base_n, p.digest_key AS derived
    FROM steps AS p
    JOIN chains AS b ON b.n = p.k AND b.prefix = p.prefix
    WHERE p.k < p.n
),
derived AS (
    SELECT e.base, count(DISTINCT e.derived) AS derived_images,
           count(DISTINCT m.repo_key) AS derived_repositories
    FROM edges AS e
    JOIN keyed.manifests AS m ON m.digest_key = e.derived
    GROUP BY e.base
),
bases AS MATERIALIZED (
    SELECT s.digest_key, c.chain
    FROM steps AS s
    JOIN chains AS c ON c.n = s.n AND c.prefix = s.prefix
    SEMI JOIN derived AS d ON d.base = c.chain
    WHERE s.k = s.n
),
facts AS (
    SELECT m.digest_key, any_value(m.registry) AS registry, any_value(m.digest) AS digest,
           any_value(m.layer_count) AS layer_count, any_value(m.total_size) AS size,
           any_value(m.created) AS created
    FROM keyed.manifests AS m
    SEMI JOIN bases AS b ON b.digest_key = m.digest_key
    GROUP BY m.digest_key
),
parents AS (
    -- the longest base chain under each base chain
    SELECT b.chain, arg_max(e.base, e.base_n) AS parent_chain
    FROM edges AS e
    JOIN bases AS b ON b.digest_key = e.derived
    GROUP BY b.chain
),
chain_heads AS (
    -- the newest image of each chain that is some chain's parent
    SELECT b.chain, arg_max(f.digest, (f.created, f.digest)) AS digest
    FROM bases AS b
    JOIN facts AS f ON f.digest_key = b.digest_key
    SEMI JOIN parents AS p ON p.parent_chain = b.chain
    GROUP BY b.chain
),
reach AS (
    SELECT t.repository, t.tag, t.digest_key
    FROM keyed.tags AS t
    SEMI JOIN bases AS b ON b.digest_key = t.digest_key
    UNION
    SELECT t.repository, t.tag, c.child_key
    FROM keyed.tags AS t
    JOIN keyed.index_children AS c ON c.digest_key = t.digest_key
    SEMI JOIN bases AS b ON b.digest_key = c.child_key
),
named AS (
    SELECT digest_key, list_sort(list(DISTINCT repository || ':' || tag)) AS tags
    FROM reach
    GROUP BY digest_key
)
SELECT f.registry, f.digest,
       coalesce(n.tags, CAST([] AS VARCHAR[])) AS tags,
       f.layer_count, f.size, h.digest AS parent_digest, d.derived_images,
       d.derived_repositories
FROM bases AS b
JOIN derived AS d ON d.base = b.chain
JOIN facts AS f ON f.digest_key = b.digest_key
LEFT JOIN parents AS p ON p.chain = b.chain
LEFT JOIN chain_heads AS h ON h.chain = p.parent_chain
LEFT JOIN named AS n ON n.digest_key = b.digest_key
ORDER BY d.derived_images DESC, f.registry, f.digest
