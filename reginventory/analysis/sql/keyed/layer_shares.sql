-- {target}.layer_shares: the layers that more than one image or repository uses (shared_layers).
--
-- Per layer: `images` the distinct manifest digests that list it, `repositories` the distinct
-- repositories whose manifests list it, its largest size and whether it is foreign. Counting
-- them reads every layer row; as a keyed table that is done once per crawl and cached.
WITH uses AS (
    -- each layer with each manifest digest that lists it (content: one row per digest)
    SELECT DISTINCT crawl_id, crawl_key, layer_key, digest_key, size, "foreign" FROM {target}.layers
),
images AS (
    SELECT crawl_id, crawl_key, layer_key, count(*) AS images, max(size) AS size,
           bool_or("foreign") AS "foreign"
    FROM uses
    GROUP BY crawl_id, crawl_key, layer_key
),
holders AS (
    SELECT DISTINCT u.crawl_key, u.layer_key, m.repo_key
    FROM uses AS u
    JOIN {target}.manifests AS m ON m.crawl_key = u.crawl_key AND m.digest_key = u.digest_key
),
repositories AS (
    SELECT crawl_key, layer_key, count(*) AS repositories FROM holders GROUP BY crawl_key, layer_key
)
SELECT i.crawl_id, i.crawl_key, i.layer_key, i.images, r.repositories, i.size, i."foreign"
FROM images AS i
JOIN repositories AS r ON r.crawl_key = i.crawl_key AND r.layer_key = i.layer_key
WHERE i.images > 1 OR r.repositories > 1
