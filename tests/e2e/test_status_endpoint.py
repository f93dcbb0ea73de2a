"""`GET /v1/status`, the console's status page: the key's project's runs by status (never
another project's) and the deployment's health, the facts `treadle status` prints; a service
that is down is an error inside the answer, not a failed request."""
import time
from pathlib import Path
from typing import Any

import httpx
import openai

from tests.conftest import free_port, serving_api
from tests.support.waiting import wait_for

STATUSES = {"queued", "in_progress", "requires_action", "cancelling", "completed",
            "incomplete", "failed", "cancelled", "expired"}
QUEUES = {"runs", "ingest", "search", "sandbox", "timers"}
SERVICES = {"postgres", "redis", "broker"}
DEPLOYMENT_KEYS = {"checked_at", "services", "migrations_pending", "queues", "workers",
                   "runs_in_flight", "ingest_backlog"}


def status(base: str, key: str, **params: str) -> dict[str, Any]:
    answer = httpx.get(f"{base}/v1/status", headers={"Authorization": f"Bearer {key}"},
                       params=params, timeout=30)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert set(body) == {"object", "healthy", "project", "deployment", "errors"}, body
    assert body["object"] == "status"
    assert set(body["deployment"]) == DEPLOYMENT_KEYS, body
    assert set(body["deployment"]["services"]) == SERVICES, body
    return body


def complete_runs(client: openai.OpenAI, count: int) -> None:
    assistant = client.beta.assistants.create(model="test-model")
    for _ in range(count):
        run = client.beta.threads.create_and_run_poll(
            assistant_id=assistant.id,
            thread={"messages": [{"role": "user", "content": "hi"}]})
        assert run.status == "completed"


def test_the_projects_runs_and_a_healthy_deployment(
        api_base: str, workers: Any, client: openai.OpenAI, other_client: openai.OpenAI
) -> None:
    key, other_key = client.api_key, other_client.api_key
    fresh = status(api_base, key)
    assert fresh["project"]["runs"] == dict.fromkeys(STATUSES, 0)

    complete_runs(client, 2)
    complete_runs(other_client, 1)
    mine, theirs = status(api_base, key), status(api_base, other_key)
    assert mine["project"]["runs"] == {**dict.fromkeys(STATUSES, 0), "completed": 2}
    assert theirs["project"]["runs"] == {**dict.fromkeys(STATUSES, 0), "completed": 1}
    assert mine["project"]["id"] != theirs["project"]["id"]
    # No parameter picks another project: the key alone decides.
    asked = status(api_base, key, project_id=theirs["project"]["id"], project=theirs[
        "project"]["id"])
    assert asked["project"] == mine["project"]

    # The deployment's figures may be a read from before this session's workers answered:
    # each API process reads them again every few seconds.
    def with_the_workers() -> dict[str, Any] | None:
        body = status(api_base, key)
        shown = body["deployment"]
        return body if len(shown["workers"] or []) >= 4 and shown["runs_in_flight"] else None

    settled = wait_for(with_the_workers, seconds=30, what="the session's workers in the status")
    assert settled["healthy"] is True and settled["errors"] == {}, settled
    deployment = settled["deployment"]
    assert deployment["services"] == {name: {"ok": True, "error": None} for name in SERVICES}
    assert deployment["migrations_pending"] == []
    assert set(deployment["queues"]) == QUEUES
    assert all(isinstance(n, int) and n >= 0 for n in deployment["queues"].values())
    # The session's pools: ingest, runs, timers and sandbox answer the ping.
    assert len(deployment["workers"]) >= 4, deployment["workers"]
    assert any(p["capacity"] == 8 for p in deployment["runs_in_flight"]), deployment
    for process in deployment["runs_in_flight"]:
        assert set(process) == {"process", "in_flight", "capacity"}
        assert 0 <= process["in_flight"] <= process["capacity"]
    assert isinstance(deployment["ingest_backlog"], int) and deployment["ingest_backlog"] >= 0
    assert deployment["checked_at"] <= int(time.time()) + 1
    # The deployment's facts are the same whichever project asks.
    assert theirs["deployment"]["services"] == deployment["services"]


def test_status_needs_a_key(api_base: str) -> None:
    answer = httpx.get(f"{api_base}/v1/status", timeout=10)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "invalid_api_key"
    wrong = httpx.get(f"{api_base}/v1/status", timeout=10,
                      headers={"Authorization": "Bearer sk-treadle-wrong"})
    assert wrong.status_code == 401


def test_the_extension_is_in_the_openapi_document(api_base: str) -> None:
    spec = httpx.get(f"{api_base}/openapi.json", timeout=10).json()
    operation = spec["paths"]["/v1/status"]["get"]
    assert "extension" in operation["summary"]
    schema = spec["components"]["schemas"]["StatusObject"]
    assert set(schema["properties"]) == {"object", "healthy", "project", "deployment", "errors"}


def test_services_down_are_errors_in_the_answer(server_env: dict[str, str], api_key: str,
                                                tmp_path: Path) -> None:
    """An API process whose Redis and broker are a port nobody listens on: the answer still
    comes, with the project's counts (Postgres is up) and each failure named."""
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    env = {**server_env, "TREADLE_REDIS_URL": nowhere, "TREADLE_BROKER_URL": nowhere}
    with serving_api(env, tmp_path / "api.log") as base:
        started = time.monotonic()
        body = status(base, api_key)
        print(f"status with Redis and the broker down: {time.monotonic() - started:.2f} s")
        again = status(base, api_key)
    assert body["project"]["runs"] == dict.fromkeys(STATUSES, 0)
    assert body["healthy"] is False
    services = body["deployment"]["services"]
    assert services["postgres"] == {"ok": True, "error": None}
    for name in ("redis", "broker"):
        assert services[name]["ok"] is False and services[name]["error"], services
    for field in ("runs_in_flight", "queues", "workers"):
        assert body["deployment"][field] is None, body
        assert body["errors"][f"deployment.{field}"], body["errors"]
    assert body["deployment"]["migrations_pending"] == []
    assert again["deployment"]["services"]["redis"]["ok"] is False
