"""Idempotency-Key: a POST retried with the key it was first sent with gets the first answer
instead of doing the work again.

The first request with a key (in its project) claims it before it runs and completes the
claim with its answer. Only successful answers are kept: an error answer has created nothing
(a run whose task could not be sent stays queued for the timers and is answered 200), so its
claim is released and a retry does the work. Keys expire `KEY_TTL_SECONDS` after first use.
"""
import uuid
from dataclasses import dataclass

from shared.clock import now
from shared.errors import ConflictError
from shared.idempotency import repository
from shared.storage.db import unit_of_work

KEY_TTL_SECONDS = 24 * 3600
# A claim in progress this long belongs to a request whose process died: the key is free.
ABANDONED_AFTER_SECONDS = 600
# Expired claims each new claim deletes on its way, so the table stays small.
_PURGE_BATCH = 100


@dataclass(frozen=True)
class Claim:
    project_id: str
    key: str
    token: str


@dataclass(frozen=True)
class Answer:
    """The first request's answer: a body, or (`stream_run_id`) a run's event stream from
    the entry after `stream_after`."""
    status: int
    content_type: str | None = None
    body: bytes = b""
    stream_run_id: str | None = None
    stream_after: str | None = None


def begin(project_id: str, key: str, fingerprint: str) -> Claim | Answer:
    """Claim `key` for the request `fingerprint` identifies; or the answer its first request
    got. A key held by a request still in progress, or first used for another request, is a
    409 (in progress first: what the holder asked for is not known to be the same yet)."""
    # A claim released between the insert and the read is gone: claim again.
    for _ in range(3):
        at = now()
        token = uuid.uuid4().hex
        with unit_of_work() as conn:
            repository.purge_expired(conn, at, _PURGE_BATCH)
            claimed = repository.claim(conn, {
                "project_id": project_id, "key": key, "token": token,
                "fingerprint": fingerprint, "created_at": at,
                "expires_at": at + KEY_TTL_SECONDS}, at - ABANDONED_AFTER_SECONDS)
            row = None if claimed else repository.find(conn, project_id, key)
        if claimed:
            return Claim(project_id, key, token)
        if row is None:
            continue
        if row["status"] is None:
            break
        if row["fingerprint"] != fingerprint:
            raise ConflictError(
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request.", code="idempotency_key_reused")
        return Answer(row["status"], row["content_type"], bytes(row["body"] or b""),
                      row["stream_run_id"], row["stream_after"])
    raise ConflictError(
        f"A request with the Idempotency-Key '{key}' is still in progress. Retry once it "
        "has finished.", code="idempotency_key_in_use")


def complete(claim: Claim, answer: Answer) -> None:
    with unit_of_work() as conn:
        repository.complete(conn, claim.project_id, claim.key, claim.token, {
            "status": answer.status, "content_type": answer.content_type,
            "body": answer.body, "stream_run_id": answer.stream_run_id,
            "stream_after": answer.stream_after})


def release(claim: Claim) -> None:
    with unit_of_work() as conn:
        repository.release(conn, claim.project_id, claim.key, claim.token)
