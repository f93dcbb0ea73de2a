"""A response's events, followed in its run's Redis stream and translated
(`shared/responses/stream`): sent as server-sent events, or waited through for the answer.

Every follow reads the run's events from the first, so the translation numbers them alike
wherever it runs; a client resuming after `starting_after` is sent only the later ones.
Waiting holds no Redis connection, as a stream does not (the process's relay feeds both).
"""
from collections.abc import Collection, Iterator
from contextlib import closing
from typing import Any

from flask import Response, stream_with_context

from api.streaming import KEEPALIVE
from shared.config import get_settings
from shared.errors import InvalidRequestError
from shared.responses import service, stream
from shared.runs import events
from shared.runs.states import TERMINAL
from shared.storage import redis_keys
from shared.storage.redis import get_redis

_FINAL = frozenset(stream.FINAL_EVENTS.values())


def _translated(response: dict[str, Any], run: dict[str, Any], include: Collection[str],
                just_written: bool) -> Iterator[list[stream.Event] | None]:
    """The response's events up to its final one, a batch for each batch of the run's;
    None when a keep-alive is due. `just_written`: by this request's create."""
    translator = stream.Translator(response, include, run)
    quiet_ms = round(get_settings().stream_keepalive_seconds * 1000)
    with closing(events.follow(response["id"], "0-0", block_ms=quiet_ms,
                               just_written=just_written)) as followed:
        for batch in followed:
            if batch is None:
                yield None
                continue
            translated: list[stream.Event] = []
            for event in batch:
                translated.extend(translator.feed(event.name, event.data))
                if translator.ended:
                    yield translated
                    return
            yield translated


def sse_response(response: dict[str, Any], run: dict[str, Any], include: Collection[str],
                 starting_after: int = -1, just_written: bool = False) -> Response:
    if run["status"] in TERMINAL and not get_redis().exists(redis_keys.run_events(run["id"])):
        # Nothing would ever come: the events of an ended response expire after a while.
        raise InvalidRequestError(
            f"The events of response '{response['id']}' are no longer kept; retrieve it "
            "without 'stream'.", param="stream")

    def body() -> Iterator[bytes]:
        for batch in _translated(response, run, include, just_written):
            if batch is None:
                yield KEEPALIVE
                continue
            sent = b"".join(stream.sse(event) for event in batch
                            if event["sequence_number"] > starting_after)
            if sent:
                yield sent

    return Response(stream_with_context(body()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def final_response(response: dict[str, Any], run: dict[str, Any], include: Collection[str]
                   ) -> dict[str, Any]:
    """The Response object, created by this request, once it has ended, as its final event
    shows it."""
    for batch in _translated(response, run, include, just_written=True):
        for event in batch or ():
            if event["type"] in _FINAL:
                return dict(event["response"])
    raise RuntimeError(f"the events of response {response['id']} ended without a final one")


def include_of(response: dict[str, Any]) -> list[str]:
    """What the create asked to include, which its stream shows."""
    return list((response["request"] or {}).get("include") or [])


def replay(project_id: str, response_id: str) -> Response:
    """A streamed create's answer again (its `Idempotency-Key` retried): the same events."""
    loaded = service.get_response_row(project_id, response_id)
    return sse_response(loaded.response, loaded.run, include_of(loaded.response))
