"""A model silent for 30 s before its first token, followed by a streaming SDK client whose
read timeout is shorter than that silence: the stream's keep-alives hold it open, and the
text arrives whole, once."""
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai

from tests.support import chaos
from tests.support.platform import Up

SILENCE_MS = 30_000
# Shorter than the silence: only the server's keep-alives keep this client reading.
READ_TIMEOUT_SECONDS = 20
# Keep-alives also keep a stream that never ends open: past this the test fails instead.
WHOLE_SECONDS = 120


def test_a_stream_waits_out_a_model_silent_for_30_seconds(platform: Up, api: openai.OpenAI,
                                                          assistant_id: str) -> None:
    message, expected = chaos.script(tokens=12, chunk_delay_ms=20, delay_ms=SILENCE_MS)
    patient = api.with_options(timeout=READ_TIMEOUT_SECONDS)
    thread = patient.beta.threads.create(messages=[{"role": "user", "content": message}])

    def follow() -> tuple[str, Any, Any]:
        with patient.beta.threads.runs.stream(thread_id=thread.id,
                                              assistant_id=assistant_id) as stream:
            deltas = "".join(stream.text_deltas)
            return deltas, stream.get_final_messages(), stream.get_final_run()

    pool = ThreadPoolExecutor(1)
    try:
        deltas, final, run = pool.submit(follow).result(timeout=WHOLE_SECONDS)
    finally:
        # Not waiting: a stream that never ended is left to the platform's stop.
        pool.shutdown(wait=False)
    assert run.status == "completed", run.last_error
    assert deltas == expected
    assert [part.text.value for m in final for part in m.content] == [expected]
    stored = api.beta.threads.messages.list(thread.id, run_id=run.id).data
    assert [part.text.value for m in stored for part in m.content] == [expected]
