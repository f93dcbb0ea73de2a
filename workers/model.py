"""Calls to the configured OpenAI-compatible Chat Completions endpoint.

The openai client retries 408, 409, 429 and 5xx with backoff by itself
(`model_max_retries`); what still fails is classified into the run's `last_error` code.
"""
import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import gevent
import httpx2
import openai

from shared.config import get_settings

# After [DONE], the rest of an HTTP/1.1 body (its last chunk's end) is read, so the
# connection goes back to the client's pool: left unread, httpx closes it, and every model
# call opened a connection of its own (with a hosted endpoint, a TLS handshake each). A server
# that holds the body open after [DONE] is given this long, as the openai SDK's async streams
# give it, and its connection is then closed.
DRAIN_SECONDS = 0.1


@cache
def client() -> openai.OpenAI:
    settings = get_settings()
    return openai.OpenAI(
        base_url=settings.model_base_url,
        api_key=settings.model_api_key,
        timeout=settings.model_timeout_seconds,
        max_retries=settings.model_max_retries,
        # A runs worker streams as many calls at once as it holds runs: no cap on open
        # connections (the SDK's 1,000 would make the rest wait, then time out), and as
        # many kept for reuse.
        http_client=openai.DefaultHttpxClient(limits=httpx2.Limits(
            max_connections=None, max_keepalive_connections=settings.runs_concurrency)),
    )


def error_code(error: Exception) -> str:
    if isinstance(error, openai.RateLimitError):
        return "rate_limit_exceeded"
    if isinstance(error, openai.BadRequestError | openai.UnprocessableEntityError
                  | openai.NotFoundError):
        return "invalid_prompt"
    return "server_error"


def error_message(error: Exception) -> str:
    if isinstance(error, openai.APIStatusError):
        body = error.body
        if isinstance(body, dict):
            detail = body.get("error", body)
            if isinstance(detail, dict) and detail.get("message"):
                return f"The model endpoint answered {error.status_code}: {detail['message']}"
        return f"The model endpoint answered {error.status_code}."
    if isinstance(error, openai.APITimeoutError):
        return "The model endpoint did not answer in time."
    if isinstance(error, openai.APIConnectionError):
        return "The model endpoint could not be reached."
    return f"The model call failed: {error}"


@contextmanager
def stream_chat(request: dict[str, Any]) -> Iterator[Iterator[dict[str, Any]]]:
    """The streamed chunks as plain dicts.

    The client still sends the request, retries and raises typed errors; only the chunks
    are read raw, because building its typed chunk objects cost more CPU than the rest of
    a run's work together. The request goes out as built, as `extra_body`: the client's
    typed transform of its parameters walks every message and tool through their type hints
    to give the same JSON, a tenth of a runs worker's CPU. Leaving the block closes the
    connection (a cancel mid-stream).
    """
    with client().chat.completions.with_streaming_response.create(
        model=request["model"], messages=[], stream=True,
        extra_body={**request, "stream_options": {"include_usage": True}},
    ) as response:
        yield _chunks(response)


def _chunks(response: Any) -> Iterator[dict[str, Any]]:
    lines = response.iter_lines()
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            # Under gevent (a runs worker) the timeout interrupts a read; elsewhere the end is
            # read as it comes.
            with gevent.Timeout(DRAIN_SECONDS, False):
                for _ in lines:
                    pass
            return
        chunk = json.loads(data)
        if "error" in chunk:
            error = chunk["error"] if isinstance(chunk["error"], dict) else {}
            raise openai.APIError(error.get("message") or "The model stream failed.",
                                  response.http_request, body=error)
        yield chunk
