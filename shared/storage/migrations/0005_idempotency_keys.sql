-- Idempotency-Key claims: the first request with a key (in a project) claims it, and its
-- successful answer is kept so a retry gets that answer instead of doing the work again.
-- `status` is null while the first request is still in progress.
CREATE TABLE idempotency_keys (
    project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    key text NOT NULL,
    -- Which claim of the key this is, so a request only completes or releases its own.
    token text NOT NULL,
    -- A digest of the method, path, query and body: the same key with another request is a 409.
    fingerprint text NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    status integer,
    content_type text,
    body bytea,
    -- A streamed answer is replayed from the run's event stream, after this entry.
    stream_run_id text,
    stream_after text,
    PRIMARY KEY (project_id, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
