-- Core objects. Times are Unix seconds; `seq` gives every list a stable order and cursor.

CREATE TABLE projects (
    id text PRIMARY KEY,
    name text NOT NULL UNIQUE,
    created_at bigint NOT NULL
);

CREATE TABLE api_keys (
    id text PRIMARY KEY,
    project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    key_hash bytea NOT NULL UNIQUE,
    redacted text NOT NULL,
    created_at bigint NOT NULL,
    revoked_at bigint
);

CREATE TABLE assistants (
    seq bigserial UNIQUE,
    id text PRIMARY KEY,
    project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    created_at bigint NOT NULL,
    name text,
    description text,
    model text NOT NULL,
    instructions text,
    tools jsonb NOT NULL DEFAULT '[]',
    tool_resources jsonb NOT NULL DEFAULT '{}',
    metadata jsonb NOT NULL DEFAULT '{}',
    temperature double precision,
    top_p double precision,
    response_format jsonb,
    reasoning_effort text
);
CREATE INDEX assistants_project_seq ON assistants (project_id, seq);

CREATE TABLE threads (
    seq bigserial UNIQUE,
    id text PRIMARY KEY,
    project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    created_at bigint NOT NULL,
    tool_resources jsonb NOT NULL DEFAULT '{}',
    metadata jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX threads_project_seq ON threads (project_id, seq);

CREATE TABLE messages (
    seq bigserial UNIQUE,
    id text PRIMARY KEY,
    project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    thread_id text NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    created_at bigint NOT NULL,
    status text NOT NULL,
    incomplete_details jsonb,
    completed_at bigint,
    incomplete_at bigint,
    role text NOT NULL,
    content jsonb NOT NULL,
    assistant_id text,
    run_id text,
    attachments jsonb NOT NULL DEFAULT '[]',
    metadata jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX messages_thread_seq ON messages (thread_id, seq);

CREATE TABLE files (
    seq bigserial UNIQUE,
    id text PRIMARY KEY,
    project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    created_at bigint NOT NULL,
    bytes bigint NOT NULL,
    filename text NOT NULL,
    purpose text NOT NULL,
    status text NOT NULL,
    status_details text,
    expires_at bigint
);
CREATE INDEX files_project_seq ON files (project_id, seq);

-- File bytes for the Postgres blob store, in parts so no value nears bytea's limits.
CREATE TABLE blob_parts (
    key text NOT NULL,
    part integer NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (key, part)
);
