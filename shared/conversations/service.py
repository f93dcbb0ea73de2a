"""Conversations: metadata and an ordered list of items, created with their first items in
one transaction. `append_items` is the one way items join a conversation, for the API's
requests and for the Responses engine's input and output items alike."""
from collections.abc import Collection
from typing import Any

from shared.clock import now
from shared.conversations import repository as conversations
from shared.errors import NotFoundError
from shared.ids import new_id
from shared.items.inputs import parse_items
from shared.items.service import resolve_items
from shared.items.wire import item_view
from shared.objects import deleted
from shared.storage import repository
from shared.storage.db import Conn, reading, unit_of_work
from shared.storage.pagination import Page, PageQuery
from shared.storage.repository import CONVERSATIONS


def _free_ids(conn: Conn, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An item id names one conversation item: an item whose id an item of some
    conversation has already, or an earlier item of the batch has (a referenced item, a
    careless model's repeated call id), is given a new one."""
    taken = conversations.taken_item_ids(conn, [item["id"] for item in items])
    free = []
    for item in items:
        if item["id"] in taken:
            item = {**item, "id": new_id(item["type"])}
        taken.add(item["id"])
        free.append(item)
    return free


def append_items(conn: Conn, project_id: str, conversation_id: str,
                 items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add stored items (`{"id", "type", ...}`, checked already) at the conversation's end,
    in order and contiguous, inside the caller's transaction; 404 if it is gone. The items
    as stored are returned: each with a free id."""
    first = conversations.reserve_positions(conn, project_id, conversation_id, len(items))
    if first is None:
        raise CONVERSATIONS.not_found(conversation_id)
    items = _free_ids(conn, items)
    conversations.insert_items(conn, project_id, conversation_id, first, now(), items)
    return items


def _require_conversation(conn: Conn, project_id: str, conversation_id: str) -> None:
    """The conversation exists in the project: 400 for a malformed id, 404 otherwise."""
    repository.get(conn, CONVERSATIONS, {"project_id": project_id}, conversation_id,
                   "conversation_id")


def create_conversation(project_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    items = parse_items(fields.get("items") or [], "items")
    with unit_of_work() as conn:
        items = resolve_items(conn, project_id, items, "items")
        conversation = repository.insert(conn, CONVERSATIONS, {
            "project_id": project_id,
            "created_at": now(),
            "metadata": fields.get("metadata") or {},
        })
        if items:
            append_items(conn, project_id, conversation["id"], items)
        return conversation


def get_conversation(project_id: str, conversation_id: str) -> dict[str, Any]:
    with reading() as conn:
        return repository.get(conn, CONVERSATIONS, {"project_id": project_id},
                              conversation_id, "conversation_id")


def modify_conversation(project_id: str, conversation_id: str, changes: dict[str, Any]
                        ) -> dict[str, Any]:
    with unit_of_work() as conn:
        return repository.update(conn, CONVERSATIONS, {"project_id": project_id},
                                 conversation_id, "conversation_id", changes)


def delete_conversation(project_id: str, conversation_id: str) -> dict[str, Any]:
    """The conversation and its items go (nothing else refers to its items)."""
    with unit_of_work() as conn:
        repository.delete(conn, CONVERSATIONS, {"project_id": project_id}, conversation_id,
                          "conversation_id")
    return deleted(conversation_id, "conversation.deleted")


def create_items(project_id: str, conversation_id: str, raw_items: list[Any],
                 include: Collection[str]) -> Page:
    items = parse_items(raw_items, "items")
    with unit_of_work() as conn:
        _require_conversation(conn, project_id, conversation_id)
        items = append_items(conn, project_id, conversation_id,
                             resolve_items(conn, project_id, items, "items"))
    return Page(data=[item_view(item, include) for item in items], has_more=False)


def list_items(project_id: str, conversation_id: str, query: PageQuery,
               include: Collection[str]) -> Page:
    with reading() as conn:
        _require_conversation(conn, project_id, conversation_id)
        page = conversations.page_items(conn, project_id, conversation_id, query)
    return Page(data=[item_view(item, include) for item in page.data], has_more=page.has_more)


def _item_not_found(item_id: str) -> NotFoundError:
    return NotFoundError(f"No item found with id '{item_id}'.")


def get_item(project_id: str, conversation_id: str, item_id: str,
             include: Collection[str]) -> dict[str, Any]:
    with reading() as conn:
        _require_conversation(conn, project_id, conversation_id)
        item = conversations.get_item(conn, project_id, conversation_id, item_id)
    if item is None:
        raise _item_not_found(item_id)
    return item_view(item, include)


def delete_item(project_id: str, conversation_id: str, item_id: str) -> dict[str, Any]:
    """The item goes; the answer is its conversation, as OpenAI's is."""
    with unit_of_work() as conn:
        scope = {"project_id": project_id}
        conversation = repository.get(conn, CONVERSATIONS, scope, conversation_id,
                                      "conversation_id")
        if not conversations.delete_item(conn, project_id, conversation_id, item_id):
            raise _item_not_found(item_id)
        return conversation
