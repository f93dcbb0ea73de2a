-- What the run's creator asked to include in its streamed steps (the include[] query
-- parameter of create run), so the workers that stream them know.
ALTER TABLE runs ADD COLUMN include text[] NOT NULL DEFAULT '{}';
