-- Responses. A response is executed as a run: its `runs` row and the `threads` row the run
-- needs both have the response's id, so deleting the thread takes the run, its steps, its
-- messages and this row with it. This row keeps what only a response has: the request as
-- normalised (echoed on the wire), its input items (each with its id), and its output items,
-- written in the same transaction as the run's terminal move.

CREATE TABLE responses (
    seq bigserial UNIQUE,
    id text PRIMARY KEY REFERENCES threads (id) ON DELETE CASCADE,
    project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    created_at bigint NOT NULL,
    previous_response_id text,
    conversation_id text,
    store boolean NOT NULL,
    background boolean NOT NULL,
    request jsonb NOT NULL,
    input jsonb NOT NULL,
    output jsonb
);
CREATE INDEX responses_project_seq ON responses (project_id, seq);

-- The Assistants API's threads: every thread but those of responses. GET /v1/threads lists
-- this view, so a response's thread never shows there.
CREATE VIEW assistant_threads AS SELECT * FROM threads WHERE id LIKE 'thread\_%';
