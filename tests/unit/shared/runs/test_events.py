"""The pure parts of `shared.runs.events`: stream ids and the SSE frame."""
import pytest

from shared.runs.events import Event, just_before


@pytest.mark.parametrize(("entry", "before"), [
    ("1700000000000-5", "1700000000000-4"),
    ("1700000000000-1", "1700000000000-0"),
    ("1700000000000-0", f"1699999999999-{2**64 - 1}"),
    ("1-0", f"0-{2**64 - 1}"),
])
def test_just_before(entry: str, before: str) -> None:
    assert just_before(entry) == before


def test_sse_frame() -> None:
    event = Event("1700000000000-3", "thread.run.created", '{"id":"run_1"}')
    assert event.sse() == (b'id: 1700000000000-3\nevent: thread.run.created\n'
                           b'data: {"id":"run_1"}\n\n')
