"""Server-sent events relayed from a run's Redis Stream.

The gevent server parks each stream on a blocking XREAD, so an idle stream costs a greenlet
and a Redis connection, not a thread.
"""
from collections.abc import Iterator

from flask import Response, stream_with_context

from shared.runs import events
from shared.runs.states import TERMINAL

KEEPALIVE = b": keep-alive\n\n"
_TERMINAL_EVENTS = frozenset(f"thread.run.{status}" for status in TERMINAL)


def _relay(run_id: str, after: str, until_terminal: bool) -> Iterator[bytes]:
    ended = False
    for event in events.follow(run_id, after):
        if event is None:
            yield KEEPALIVE
            continue
        if event.name in _TERMINAL_EVENTS:
            ended = True
        yield event.sse()
        if event.name == events.DONE and (ended or not until_terminal):
            return


def sse_response(run_id: str, after: str, until_terminal: bool = False) -> Response:
    """Relay from the entry after `after` to the next `done` (or the run's final one)."""
    return Response(
        stream_with_context(_relay(run_id, after, until_terminal)),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
