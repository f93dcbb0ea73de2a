"""file_search: the model's query searched over the run's vector stores by the search pool.

Each result reaches the model behind a marker like 【2:0†report.pdf】 (the run's third
search, first result); markers the answer copies become file_citation annotations.
"""
import time
from typing import TYPE_CHECKING, Any

from shared.config import get_settings
from shared.errors import TreadleError
from shared.platform import rpc, tasks
from shared.storage.db import reading
from shared.vector_stores import repository as vector_stores
from shared.vector_stores.stores import stores_of_project
from workers.runs.tools.calls import Context, Result, run_tool

if TYPE_CHECKING:
    from workers.runs.tools.resources import Resources

NAME = "file_search"
DEFAULT_MAX_RESULTS = 20
RANKER = "default_2024_08_21"
INDEXING_WAIT_SECONDS = 60.0


def definition(tool: dict[str, Any], resources: "Resources") -> dict[str, Any]:
    return {
        "name": NAME,
        "description": (
            "Search the files the user and the assistant provided, by meaning and by "
            "keyword. Use it whenever the answer may be in those files. Each result comes "
            "with a marker such as 【0:1†source】: copy the marker right after the "
            "statement it supports."),
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string",
                                     "description": "What to look for, in full words."}},
            "required": ["query"],
        },
    }


def _options(tool: dict[str, Any]) -> tuple[int, float, dict[str, Any] | None]:
    """Results per search, their least score, and the attribute filters (a response's
    file_search tool may give them)."""
    settings = tool.get("file_search") or {}
    ranking = settings.get("ranking_options") or {}
    return (settings.get("max_num_results") or DEFAULT_MAX_RESULTS,
            float(ranking.get("score_threshold") or 0.0), settings.get("filters"))


def opening(call_id: str) -> dict[str, Any]:
    return {"id": call_id, "type": NAME, "file_search": {}}


def _await_indexing(vector_store_ids: list[str]) -> None:
    """Give files still being indexed a moment, as OpenAI's runs wait up to a minute for a
    thread's store: a file attached just before the run should be found."""
    deadline = time.monotonic() + INDEXING_WAIT_SECONDS
    while time.monotonic() < deadline:
        with reading() as conn:
            if not vector_stores.any_indexing(conn, vector_store_ids):
                return
        time.sleep(0.1)


def marker(search: int, index: int, filename: str) -> str:
    return f"【{search}:{index}†{filename}】"


def call(call_id: str, arguments: dict[str, Any], context: Context) -> Result:

    limit, threshold, filters = _options(run_tool(context.run, NAME))
    entry: dict[str, Any] = {"id": call_id, "type": NAME, "file_search": {
        "ranking_options": {"ranker": RANKER, "score_threshold": threshold}, "results": []}}
    query = arguments.get("query")
    if not isinstance(query, str) or not query.strip():
        return Result(entry, "Invalid arguments: 'query' must be a non-empty string.")
    project_id = context.run["project_id"]
    # Only the run's project's stores are searched (the search pool checks again): an id of
    # another project's store, however it got into the resources, is as good as none.
    with reading() as conn:
        store_ids = stores_of_project(conn, project_id, context.resources.vector_store_ids)
    if not store_ids:
        return Result(entry, "No files are attached to this conversation; nothing to search.")
    _await_indexing(store_ids)
    try:
        found = rpc.call(tasks.SEARCH, {
            "project_id": project_id, "vector_store_ids": store_ids, "queries": [query],
            "limit": limit, "score_threshold": threshold or None, "filters": filters,
        }, timeout=get_settings().search_timeout_seconds)
    except TreadleError as error:
        return Result(entry, f"The search failed: {error}")
    search = context.searches_before
    context.searches_before += 1
    entry["_search"] = search
    lines = [f"Results for {query!r}. Cite a result by copying its marker."]
    for index, hit in enumerate(found["hits"]):
        entry["file_search"]["results"].append({
            "file_id": hit["file_id"], "file_name": hit["filename"], "score": hit["score"],
            "_content": [{"type": "text", "text": hit["text"]}]
        })
        lines.append(f"\n{marker(search, index, hit['filename'])}\n{hit['text']}")
    if not found["hits"]:
        lines.append("No matching passages were found.")
    return Result(entry, "\n".join(lines))
