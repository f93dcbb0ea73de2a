"""`GET /metrics` moves with the API's requests and the pools' work."""
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families
from psycopg.conninfo import make_conninfo

from tests.conftest import free_port, start_process, stop_processes, wait_until_healthy

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(api_base: str) -> Samples:
    with urllib.request.urlopen(f"{api_base}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_follow_requests_and_runs(api_base: str, workers: Any,
                                          client: openai.OpenAI) -> None:
    before = scrape(api_base)
    assistant = client.beta.assistants.create(model="test-model")
    missing = f"asst_{uuid.uuid4().hex[:24]}"
    with pytest.raises(openai.NotFoundError):
        client.beta.assistants.retrieve(missing)
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "hi"}]})
    assert run.status == "completed"

    created = {"method": "POST", "route": "/v1/assistants"}
    one = {"method": "GET", "route": "/v1/assistants/<assistant_id>"}
    done = {"task": "runs.execute", "state": "SUCCESS"}
    # Workers add their figures to the shared store once a second.
    deadline = time.monotonic() + 15
    while True:
        after = scrape(api_base)
        if value(after, "treadle_tasks_total", **done) > value(before, "treadle_tasks_total",
                                                               **done):
            break
        assert time.monotonic() < deadline, "the runs pool's tasks never showed"
        time.sleep(0.25)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("treadle_http_requests_total", status="200", **created) == 1
    assert moved("treadle_http_requests_total", status="404", **one) == 1
    assert moved("treadle_http_request_duration_seconds_count", **created) == 1
    assert moved("treadle_http_request_duration_seconds_bucket", le="+Inf", **created) == 1
    assert moved("treadle_http_request_duration_seconds_sum", **created) > 0
    # Ids never become labels: every route is a template.
    assert not any(missing in v for _, labels in after for _, v in labels)
    assert moved("treadle_runs", status="completed") >= 1
    assert moved("treadle_task_duration_seconds_count", task="runs.execute") >= 1
    assert moved("treadle_model_call_duration_seconds_count", outcome="ok") >= 1
    assert ("treadle_queue_depth", frozenset({("queue", "runs")})) in after
    assert ("treadle_ingest_backlog", frozenset()) in after
    assert ("treadle_sandbox_sessions", frozenset()) in after
    for source in ("redis", "postgres", "broker"):
        assert value(after, "treadle_metrics_source_up", source=source) == 1


def test_metrics_survive_a_source_down(server_env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    env = {**server_env, "TREADLE_DATABASE_URL": make_conninfo(
        server_env["TREADLE_DATABASE_URL"], dbname=f"missing_{uuid.uuid4().hex[:8]}")}
    process = start_process(["api", "--port", str(port)], env, tmp_path / "api.log")
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_healthy(base, process)
        scraped = scrape(base)
    finally:
        stop_processes([process])
    assert value(scraped, "treadle_metrics_source_up", source="postgres") == 0
    assert value(scraped, "treadle_metrics_source_up", source="redis") == 1
    assert value(scraped, "treadle_metrics_source_up", source="broker") == 1
    assert ("treadle_queue_depth", frozenset({("queue", "runs")})) in scraped
    assert not any(name == "treadle_runs" for name, _ in scraped)
