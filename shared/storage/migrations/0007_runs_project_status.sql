-- GET /v1/status counts one project's runs by status: from this index alone, rather than a
-- walk over every project's runs.
CREATE INDEX runs_project_status ON runs (project_id, status);
