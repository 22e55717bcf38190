-- crawl_errors: what the selected crawls could not read, as the crawler recorded it.
--
-- Parameters:
--   (none)
-- Columns:
--   registry VARCHAR: the registry host
--   repository VARCHAR: the repository, when the error concerns one
--   reference VARCHAR: the tag or digest, when the error concerns one
--   stage VARCHAR: catalog | tags | manifest | config | ...
--   error_type VARCHAR: the kind of error
--   status INTEGER: the HTTP status, when there was one
--   message VARCHAR: the error message
SELECT registry, repository, reference, stage, error_type, status, message
FROM errors
ORDER BY registry, repository NULLS FIRST, reference NULLS FIRST, stage, message
