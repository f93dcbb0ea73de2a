"""This test process's Postgres pool made anew on other settings, for a test's duration."""
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from shared.config import get_settings
from shared.storage import db


@contextmanager
def pool_on(**env: str) -> Iterator[None]:
    """The pool opened afresh with the TREADLE_* variables `env` set (the database it uses,
    its sizes and waits); the suite's settings and a fresh pool of theirs afterwards."""
    with pytest.MonkeyPatch.context() as patch:
        db.close_pool()
        for name, value in env.items():
            patch.setenv(name, value)
        get_settings.cache_clear()
        try:
            yield
        finally:
            db.close_pool()
    get_settings.cache_clear()
