-- Runs and run steps. The partial unique index is the guarantee of one active run per thread.

CREATE TABLE runs (
    seq bigserial UNIQUE,
    id text PRIMARY KEY,
    project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    thread_id text NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    assistant_id text NOT NULL,
    created_at bigint NOT NULL,
    status text NOT NULL,
    required_action jsonb,
    last_error jsonb,
    expires_at bigint,
    started_at bigint,
    cancelled_at bigint,
    failed_at bigint,
    completed_at bigint,
    incomplete_details jsonb,
    model text NOT NULL,
    instructions text NOT NULL DEFAULT '',
    tools jsonb NOT NULL DEFAULT '[]',
    metadata jsonb NOT NULL DEFAULT '{}',
    usage jsonb,
    temperature double precision,
    top_p double precision,
    max_prompt_tokens integer,
    max_completion_tokens integer,
    truncation_strategy jsonb NOT NULL DEFAULT '{"type": "auto", "last_messages": null}',
    tool_choice jsonb NOT NULL DEFAULT '"auto"',
    parallel_tool_calls boolean NOT NULL DEFAULT true,
    response_format jsonb NOT NULL DEFAULT '"auto"',
    reasoning_effort text,
    tool_resources jsonb NOT NULL DEFAULT '{}',
    -- How many times a worker has started executing this run (crash recovery counts).
    attempts integer NOT NULL DEFAULT 0
);
CREATE INDEX runs_thread_seq ON runs (thread_id, seq);
CREATE UNIQUE INDEX runs_one_active_per_thread ON runs (thread_id)
    WHERE status IN ('queued', 'in_progress', 'requires_action', 'cancelling');
CREATE INDEX runs_active ON runs (status, expires_at)
    WHERE status IN ('queued', 'in_progress', 'requires_action', 'cancelling');

CREATE TABLE run_steps (
    seq bigserial UNIQUE,
    id text PRIMARY KEY,
    project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    run_id text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    thread_id text NOT NULL,
    assistant_id text NOT NULL,
    created_at bigint NOT NULL,
    type text NOT NULL,
    status text NOT NULL,
    step_details jsonb NOT NULL,
    last_error jsonb,
    expired_at bigint,
    cancelled_at bigint,
    failed_at bigint,
    completed_at bigint,
    metadata jsonb NOT NULL DEFAULT '{}',
    usage jsonb
);
CREATE INDEX run_steps_run_seq ON run_steps (run_id, seq);
