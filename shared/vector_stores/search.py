"""Searching one vector store, as `POST /v1/vector_stores/{id}/search`: answered by the ingest
pool, which owns the vector engine."""
from typing import Any

from shared.clock import now
from shared.errors import InvalidRequestError
from shared.platform import rpc, tasks
from shared.storage.db import unit_of_work
from shared.vector_stores import repository
from shared.vector_stores.stores import settle_stores


def search(project_id: str, vector_store_id: str, request: dict[str, Any]) -> dict[str, Any]:
    with unit_of_work() as conn:
        store = settle_stores(conn, [repository.store(conn, project_id, vector_store_id)])[0]
        if store["status"] == "expired":
            # Using it would move last_active_at and bring it back: an expired store stays so.
            raise InvalidRequestError(f"Vector store {vector_store_id} has expired.",
                                      param="vector_store_id")
        repository.touch_store(conn, vector_store_id, now())
    queries = request["query"] if isinstance(request["query"], list) else [request["query"]]
    ranking = request.get("ranking_options") or {}
    # The project goes with the ids: the search pool reads only that project's stores.
    result = rpc.call(tasks.SEARCH, {
        "project_id": project_id, "vector_store_ids": [vector_store_id], "queries": queries,
        "rewrite": bool(request.get("rewrite_query")), "filters": request.get("filters"),
        "limit": request.get("max_num_results", 10),
        "score_threshold": ranking.get("score_threshold"),
    })
    return {"object": "vector_store.search_results.page", "search_query": result["queries"],
            "data": [{"file_id": h["file_id"], "filename": h["filename"], "score": h["score"],
                      "attributes": h["attributes"],
                      "content": [{"type": "text", "text": h["text"]}]}
                     for h in result["hits"]],
            "has_more": False, "next_page": None}
