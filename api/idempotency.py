"""The `Idempotency-Key` header, honoured on every POST by one pair of request hooks.

Before the view: the key is claimed in the caller's project (`shared/idempotency`); a key
already answered gets that answer again, marked `Idempotent-Replayed: true`. After the
view: a successful answer is kept with the key; any other releases it, since an error
answer has created nothing. A streamed answer (`stream: true`) is kept as the run's event
stream and position, so a retry gets the same events replayed from the start (a stored
response's: its translated events, with the same sequence numbers).
"""
import hashlib
import logging

import psycopg
from flask import Response, g, request
from psycopg_pool import PoolTimeout

from api.auth import project_id
from api.responses import streaming as responses_streaming
from api.streaming import sse_response
from shared.errors import InvalidRequestError
from shared.idempotency import service as idempotency
from shared.idempotency.service import Answer
from shared.responses.ending import is_response

HEADER = "Idempotency-Key"
_MAX_KEY_LENGTH = 255
_CHUNK = 1024 * 1024

log = logging.getLogger(__name__)


def _fingerprint() -> str:
    """A digest of what the request asks for: method, path, query and body (for an upload,
    its fields and files, which werkzeug has spooled, not the random multipart boundary)."""
    digest = hashlib.sha256(f"{request.method} {request.path}?".encode())
    digest.update(request.query_string)
    if request.mimetype != "multipart/form-data":
        digest.update(b"\n" + request.get_data(cache=True))
        return digest.hexdigest()
    for name, values in sorted(request.form.lists()):
        digest.update(repr((name, values)).encode())
    for name, upload in sorted(request.files.items(multi=True), key=lambda item: item[0]):
        digest.update(repr((name, upload.filename)).encode())
        while chunk := upload.stream.read(_CHUNK):
            digest.update(chunk)
        upload.stream.seek(0)
    return digest.hexdigest()


def claim_key() -> Response | None:
    key = request.headers.get(HEADER)
    if key is None or request.method != "POST" or "project_id" not in g:
        return None
    if not key.strip() or len(key) > _MAX_KEY_LENGTH:
        raise InvalidRequestError(
            f"Invalid '{HEADER}' header: expected 1 to {_MAX_KEY_LENGTH} characters.",
            code="invalid_idempotency_key")
    outcome = idempotency.begin(project_id(), key, _fingerprint())
    if isinstance(outcome, Answer):
        return _replay(outcome)
    g.idempotency_claim = outcome
    return None


def _replay(answer: Answer) -> Response:
    if answer.stream_run_id is not None and is_response(answer.stream_run_id):
        response = responses_streaming.replay(project_id(), answer.stream_run_id)
    elif answer.stream_run_id is not None:
        response = sse_response(answer.stream_run_id, answer.stream_after or "0-0")
    else:
        response = Response(answer.body, status=answer.status,
                            content_type=answer.content_type)
    response.headers["Idempotent-Replayed"] = "true"
    return response


def stream_answered(run_id: str, after: str) -> None:
    """The view answers with the run's events after `after`: what a retry replays."""
    g.idempotent_stream = (run_id, after)


def keep_answer(response: Response) -> Response:
    claim: idempotency.Claim | None = g.pop("idempotency_claim", None)
    if claim is None:
        return response
    stream = g.get("idempotent_stream")
    try:
        if not 200 <= response.status_code < 300 or (response.is_streamed and stream is None):
            idempotency.release(claim)
        elif response.is_streamed:
            idempotency.complete(claim, Answer(response.status_code, response.content_type,
                                               stream_run_id=stream[0],
                                               stream_after=stream[1]))
        else:
            idempotency.complete(claim, Answer(response.status_code, response.content_type,
                                               response.get_data()))
    except (psycopg.OperationalError, PoolTimeout) as error:
        # The answer stands: what the view did is done and must not read as an error. The
        # claim stays in progress (409 to a retry) until it counts as abandoned.
        log.warning("idempotency key %s not settled: %s", claim.key, error)
    return response
