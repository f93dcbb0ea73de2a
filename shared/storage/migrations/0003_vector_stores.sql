-- Vector stores, their files and file batches. Chunks and vectors live in the vector engine.

CREATE TABLE vector_stores (
    seq bigserial UNIQUE,
    id text PRIMARY KEY,
    project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    created_at bigint NOT NULL,
    name text NOT NULL DEFAULT '',
    description text,
    last_active_at bigint,
    expires_after jsonb,
    metadata jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX vector_stores_project_seq ON vector_stores (project_id, seq);

CREATE TABLE vector_store_file_batches (
    seq bigserial UNIQUE,
    id text PRIMARY KEY,
    project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    vector_store_id text NOT NULL REFERENCES vector_stores (id) ON DELETE CASCADE,
    created_at bigint NOT NULL,
    cancelled boolean NOT NULL DEFAULT false
);

-- `id` is the file's id: a file is in a vector store at most once.
CREATE TABLE vector_store_files (
    seq bigserial UNIQUE,
    id text NOT NULL,
    project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    vector_store_id text NOT NULL REFERENCES vector_stores (id) ON DELETE CASCADE,
    batch_id text REFERENCES vector_store_file_batches (id) ON DELETE SET NULL,
    created_at bigint NOT NULL,
    usage_bytes bigint NOT NULL DEFAULT 0,
    status text NOT NULL,
    last_error jsonb,
    chunking_strategy jsonb NOT NULL,
    attributes jsonb NOT NULL DEFAULT '{}',
    -- Bumped on every (re)submission, so a stale ingest task can tell it is stale.
    generation integer NOT NULL DEFAULT 1,
    PRIMARY KEY (vector_store_id, id)
);
CREATE INDEX vector_store_files_store_seq ON vector_store_files (vector_store_id, seq);
CREATE INDEX vector_store_files_batch ON vector_store_files (batch_id, seq);
CREATE INDEX vector_store_files_file ON vector_store_files (id);
