-- tag_ages: how old the images behind the tags are, in fixed buckets, at $as_of.
--
-- Referrer tags (cosign signatures, attestations, SBOMs) are left out, as in stale_tags. An
-- index is as old as its newest image (manifest_facts, through keyed.tag_facts). Tags whose image has no known creation
-- time fall in the bucket `unknown`. Every bucket has a row, even when empty.
--
-- Parameters:
--   as_of TIMESTAMP = now: the time ages are measured at
-- Columns:
--   bucket INTEGER: 1 for the youngest bucket; 9 for unknown
--   label VARCHAR: the bucket in words
--   tags BIGINT: tags whose image falls in the bucket
--   size BIGINT: compressed bytes of those tags' images (an image counted once per tag)
WITH buckets(bucket, label, max_days) AS (
    VALUES (1, '< 1 week', 7), (2, '1-4 weeks', 28), (3, '1-3 months', 91),
           (4, '3-6 months', 182), (5, '6-12 months', 365), (6, '1-2 years', 730),
           (7, '2-3 years', 1095), (8, '> 3 years', NULL), (9, 'unknown', NULL)
),
aged AS (
    SELECT size, (epoch(CAST($as_of AS TIMESTAMPTZ)) - epoch(created)) / 86400 AS age_days
    FROM keyed.tag_facts
    WHERE NOT referrer
),
placed AS (
    SELECT CASE
               WHEN age_days IS NULL THEN 9
               WHEN age_days < 7 THEN 1
               WHEN age_days < 28 THEN 2
               WHEN age_days < 91 THEN 3
               WHEN age_days < 182 THEN 4
               WHEN age_days < 365 THEN 5
               WHEN age_days < 730 THEN 6
               WHEN age_days < 1095 THEN 7
               ELSE 8
           END AS bucket,
           size
    FROM aged
)
SELECT b.bucket, b.label, count(p.bucket) AS tags, CAST(coalesce(sum(p.size), 0) AS BIGINT) AS size
FROM buckets AS b
LEFT JOIN placed AS p ON p.bucket = b.bucket
GROUP BY b.bucket, b.label
ORDER BY b.bucket
