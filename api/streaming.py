"""Server-sent events relayed from a run's Redis Stream.

Each stream is a greenlet waiting on its inbox in the process's stream relay
(`shared/runs/relay.py`): an open stream costs memory, not a Redis connection. A quiet stream
gets a keep-alive comment every `stream_keepalive_seconds`, so a slow model's run is never
taken for a dead connection.
"""
from collections.abc import Iterator
from contextlib import closing

from flask import Response, stream_with_context

from shared.config import get_settings
from shared.runs import events
from shared.runs.relay import Joined
from shared.runs.states import TERMINAL

# A comment line with no blank line after it: the openai SDK's decoder keeps the last event
# id across events, as the SSE spec says, so a blank line would make it dispatch an empty
# event after the comment, which it then fails to parse as JSON.
KEEPALIVE = b": keep-alive\n"
_TERMINAL_EVENTS = frozenset(f"thread.run.{status}" for status in TERMINAL)


def _relay(run_id: str, after: str, until_terminal: bool, just_written: bool,
           expected: Joined | None) -> Iterator[bytes]:
    """Each batch of events in one write (a run's start or end is several at once)."""
    ended = False
    quiet_ms = round(get_settings().stream_keepalive_seconds * 1000)
    with closing(events.follow(run_id, after, block_ms=quiet_ms, just_written=just_written,
                               expected=expected)) as followed:
        for batch in followed:
            if batch is None:
                yield KEEPALIVE
                continue
            sent = []
            for event in batch:
                if event.name in _TERMINAL_EVENTS:
                    ended = True
                sent.append(event.sse())
                if event.name == events.DONE and (ended or not until_terminal):
                    yield b"".join(sent)
                    return
            yield b"".join(sent)


def sse_response(run_id: str, after: str, until_terminal: bool = False,
                 just_written: bool = False, expected: Joined | None = None) -> Response:
    """Relay from the entry after `after` to the next `done` (or the run's final one).
    `just_written`: the answer to the write that made those entries (`events.follow`);
    `expected`: the new run's stream, followed from its start (`events.expect`), left when
    the response closes, sent or not."""
    response = Response(
        stream_with_context(_relay(run_id, after, until_terminal, just_written, expected)),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    if expected is not None:
        response.call_on_close(expected.leave)
    return response
