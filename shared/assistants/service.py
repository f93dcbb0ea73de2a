"""Assistants: create, read, modify, delete, list within a project."""
from typing import Any

from shared.clock import now
from shared.objects import deleted
from shared.storage import repository
from shared.storage.db import reading, unit_of_work
from shared.storage.pagination import Page, PageQuery
from shared.storage.repository import ASSISTANTS
from shared.tool_resources.service import check_tool_resources, checked_changes


def create_assistant(project_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    with unit_of_work() as conn:
        fields = dict(fields)
        fields["tool_resources"] = check_tool_resources(
            conn, project_id, fields.get("tool_resources"), "tool_resources"
        )
        fields["metadata"] = fields.get("metadata") or {}
        fields.setdefault("tools", [])
        return repository.insert(
            conn, ASSISTANTS, {"project_id": project_id, "created_at": now(), **fields}
        )


def get_assistant(project_id: str, assistant_id: str) -> dict[str, Any]:
    with reading() as conn:
        return repository.get(conn, ASSISTANTS, {"project_id": project_id}, assistant_id,
                              "assistant_id")


def modify_assistant(project_id: str, assistant_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    with unit_of_work() as conn:
        scope = {"project_id": project_id}
        repository.get(conn, ASSISTANTS, scope, assistant_id, "assistant_id", for_update=True)
        return repository.update(conn, ASSISTANTS, scope, assistant_id, "assistant_id",
                                 checked_changes(conn, project_id, changes))


def delete_assistant(project_id: str, assistant_id: str) -> dict[str, Any]:
    with unit_of_work() as conn:
        repository.delete(conn, ASSISTANTS, {"project_id": project_id}, assistant_id,
                          "assistant_id")
    return deleted(assistant_id, "assistant.deleted")


def list_assistants(project_id: str, query: PageQuery) -> Page:
    with reading() as conn:
        return repository.page(conn, ASSISTANTS, {"project_id": project_id}, query)
