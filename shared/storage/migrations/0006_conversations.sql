-- Conversations (the Responses API's threads) and their items. An item is stored as its
-- wire shape without the id (`item`: type, status and the type's own fields), so every item
-- type shares one table. `position` orders a conversation's items: appends reserve a run of
-- positions by moving `next_position` on the conversation row, which serialises appenders,
-- so a batch (a request's items, a response's input and output) stays contiguous.

CREATE TABLE conversations (
    seq bigserial UNIQUE,
    id text PRIMARY KEY,
    project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    created_at bigint NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}',
    next_position bigint NOT NULL DEFAULT 0
);
CREATE INDEX conversations_project_seq ON conversations (project_id, seq);

CREATE TABLE conversation_items (
    id text PRIMARY KEY,
    project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    conversation_id text NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    position bigint NOT NULL,
    created_at bigint NOT NULL,
    item jsonb NOT NULL,
    UNIQUE (conversation_id, position)
);
