"""The storage-facing half of items: the files they name resolved inside the project."""
from typing import Any

from shared.files.service import require_file
from shared.items.inputs import file_references
from shared.storage.db import Conn


def check_references(conn: Conn, project_id: str, items: list[dict[str, Any]],
                     param: str) -> None:
    """Every file the stored `items` name exists in the project: a 400 naming the field
    otherwise, as for a message's files (another project's file is no file here)."""
    for file_id, where in file_references(items, param):
        require_file(conn, project_id, file_id, where)
