-- An item reference names any stored item of the project by its id: a conversation's items
-- are found by their primary key, a response's input and output items (kept in its jsonb
-- columns) by this index of their ids, rather than a walk over every response of the
-- project. The expression is the one `shared/responses/repository.find_item` queries.
CREATE INDEX responses_item_ids ON responses
    USING gin (jsonb_path_query_array(input || coalesce(output, '[]'::jsonb), '$[*].id'));
