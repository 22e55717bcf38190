-- What garbage collection frees once deletion_closure is deleted: fills deletion_freed (one row
-- per freed blob) and deletion_freed_repositories (each freed blob with each repository whose
-- deleted revisions referenced it). Run by reginventory.analysis.deletions.load_freed once per
-- deletion set; the reclaimable query groups the rows as its $by asks.
--
-- CNCF distribution collects garbage by mark and sweep over the whole registry: a blob is
-- freed when no remaining manifest revision of any repository references it, that is when
-- every row of keyed.blob_refs naming it comes from a deleted revision. Foreign layers are
-- not stored by the registry and never count.
CREATE OR REPLACE TEMP TABLE deletion_refs AS
-- the references that deleted manifest revisions make, per repository and blob
SELECT r.crawl_key, r.repo_key, r.blob_key,
       min(CASE r.kind WHEN 'manifest' THEN 1 WHEN 'config' THEN 2 ELSE 3 END) AS kind_rank,
       max(r.size) AS size,
       count(*) AS refs
FROM keyed.blob_refs AS r
SEMI JOIN (SELECT DISTINCT repo_key, digest_key FROM deletion_closure) AS d
  ON d.repo_key = r.repo_key AND d.digest_key = r.digest_key
GROUP BY r.crawl_key, r.repo_key, r.blob_key;

CREATE OR REPLACE TEMP TABLE deletion_freed AS
SELECT t.crawl_key, t.blob_key, t.kind_rank, t.size
FROM (
    SELECT blob_key, any_value(crawl_key) AS crawl_key, min(kind_rank) AS kind_rank,
           max(size) AS size, CAST(sum(refs) AS BIGINT) AS deleted_refs
    FROM deletion_refs
    GROUP BY blob_key
) AS t
JOIN keyed.blob_revisions AS b ON b.crawl_key = t.crawl_key AND b.blob_key = t.blob_key
WHERE b.refs = t.deleted_refs AND NOT b."foreign";

CREATE OR REPLACE TEMP TABLE deletion_freed_repositories AS
SELECT r.repo_key, r.blob_key
FROM deletion_refs AS r
SEMI JOIN deletion_freed AS f ON f.blob_key = r.blob_key;

DROP TABLE deletion_refs;
