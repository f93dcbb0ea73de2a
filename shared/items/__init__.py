"""Items, the Responses API's unit of context: input checked into stored items (`inputs`),
the files they name resolved (`service`), and their wire view (`wire`)."""
