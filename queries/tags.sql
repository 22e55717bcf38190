-- tags: one row per registry, repository and tag, with the manifest it points at.
--
-- The size is the compressed bytes of the image (config + layers); for an index, the unique
-- blobs of all its children. An index lists the platforms of its image children; its creation
-- time is that of its newest child when the crawler recorded none.
--
-- Parameters:
--   (none)
-- Columns:
--   registry VARCHAR: the registry host
--   repository VARCHAR: the repository path
--   tag VARCHAR: the bare tag
--   digest VARCHAR: the manifest the tag points at
--   media_type VARCHAR: the manifest's media type
--   kind VARCHAR: image | index | artifact | signature | attestation | sbom
--   created TIMESTAMP WITH TIME ZONE: when the image was built; null when unknown
--   size BIGINT: compressed bytes (config + layers; for an index, its children's unique blobs)
--   platforms VARCHAR[]: os/arch[/variant] of the image or of the index's images
--   first_seen TIMESTAMP WITH TIME ZONE: the first crawl that saw this tag at this digest
--   last_seen TIMESTAMP WITH TIME ZONE: the latest crawl that saw it
SELECT registry, repository, tag, digest, media_type, kind, created, size,
       coalesce(platforms, CAST([] AS VARCHAR[])) AS platforms, first_seen, last_seen
FROM keyed.tag_facts
ORDER BY registry, repository, tag
