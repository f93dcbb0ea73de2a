"""The storage-facing half of items: the items that references name and the files items
name, found inside the project."""
from typing import Any

from shared.conversations import repository as conversations
from shared.errors import NotFoundError
from shared.files.service import require_file
from shared.ids import new_id
from shared.items.inputs import REFERENCE, file_references
from shared.responses import repository as responses
from shared.storage.db import Conn


def _stored_item(conn: Conn, project_id: str, item_id: str) -> dict[str, Any] | None:
    return (responses.find_item(conn, project_id, item_id)
            or conversations.find_item(conn, project_id, item_id))


def resolve_items(conn: Conn, project_id: str, items: list[dict[str, Any]],
                  param: str) -> list[dict[str, Any]]:
    """Parsed `items` as they are stored: every file the items given name checked (a 400
    naming the field otherwise, as for a message's files: another project's file is no file
    here), and each item reference replaced by a copy of the item it names, id and all.

    A reference is resolved now rather than kept: the input items a response lists are items
    (OpenAI's lists have no `item_reference` type) and show what the model was given, and a
    later turn's prompt replays them, whatever becomes of the item they came from. The item
    is a stored response's input or output item or a conversation's item, of the project;
    anything else (another project's, an unknown id, one of a `store: false` response) is
    404 as OpenAI answers, naming the field. An item referenced twice in one list is copied
    under a new id the second time, as a list's ids are its paging cursors."""
    for file_id, where in file_references(items, param):
        require_file(conn, project_id, file_id, where)
    resolved: list[dict[str, Any]] = []
    ids: set[str] = set()
    for index, item in enumerate(items):
        if item["type"] == REFERENCE:
            found = _stored_item(conn, project_id, item["id"])
            if found is None:
                raise NotFoundError(f"Item with id '{item['id']}' not found.",
                                    param=f"{param}[{index}].id")
            item = {**found, "id": new_id(found["type"])} if found["id"] in ids else found
        ids.add(item["id"])
        resolved.append(item)
    return resolved
