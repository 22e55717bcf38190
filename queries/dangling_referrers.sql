-- dangling_referrers: signatures, attestations and SBOMs whose subject is gone.
--
-- A referrer points at its subject by digest (the OCI `subject` field, the referrers API, or a
-- cosign tag `sha256-<hex>.sig`). When the subject manifest is no longer present in the
-- repository the referrer protects nothing, yet it keeps its blobs.
--
-- Parameters:
--   (none)
-- Columns:
--   registry VARCHAR: the registry host
--   repository VARCHAR: the repository path
--   digest VARCHAR: the referrer manifest
--   kind VARCHAR: signature | attestation | sbom | artifact
--   artifact_type VARCHAR: the artifact type, when it has one
--   subject_digest VARCHAR: the missing subject
--   source VARCHAR: api | subject | tag: how the crawler found the referrer
--   tag VARCHAR: the cosign-style tag, when there is one
--   size BIGINT: compressed bytes of the referrer (config + layers)
--   first_seen TIMESTAMP WITH TIME ZONE: the first crawl that saw it
--   last_seen TIMESTAMP WITH TIME ZONE: the latest crawl that saw it
WITH found AS (
    SELECT registry, repository, repo_key, digest, digest_key, kind, artifact_type,
           subject_digest, subject_key, source, tag
    FROM keyed.referrers
    UNION ALL
    SELECT registry, repository, repo_key, digest, digest_key, kind, artifact_type,
           subject_digest, subject_key, 'subject', NULL
    FROM keyed.manifests
    WHERE subject_digest IS NOT NULL
),
referrer AS (
    SELECT any_value(registry) AS registry, any_value(repository) AS repository, repo_key,
           any_value(digest) AS digest, digest_key,
           any_value(subject_digest) AS subject_digest, subject_key,
           arg_min(kind, CASE source WHEN 'tag' THEN 1 WHEN 'api' THEN 2 ELSE 3 END) AS kind,
           max(artifact_type) AS artifact_type,
           arg_min(source, CASE source WHEN 'tag' THEN 1 WHEN 'api' THEN 2 ELSE 3 END) AS source,
           max(tag) AS tag
    FROM found
    GROUP BY repo_key, digest_key, subject_key
)
SELECT r.registry, r.repository, r.digest, r.kind, r.artifact_type, r.subject_digest, r.source,
       r.tag, m.total_size AS size, m.first_seen, m.last_seen
FROM referrer AS r
LEFT JOIN keyed.manifests AS m ON m.repo_key = r.repo_key AND m.digest_key = r.digest_key
WHERE NOT EXISTS (
    SELECT 1 FROM keyed.manifests AS s
    WHERE s.repo_key = r.repo_key AND s.digest_key = r.subject_key)
ORDER BY r.registry, r.repository, r.subject_digest, r.digest
