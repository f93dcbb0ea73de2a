"""Reading the events extension (`GET .../runs/{id}/events`) as plain server-sent events."""
import json
import urllib.request
from typing import Any


def read_events(api_base: str, api_key: str, thread_id: str, run_id: str,
                last_event_id: str | None = None, timeout: float = 60) -> list[dict[str, Any]]:
    """Every event until the stream ends: [{"id", "event", "data"}], data parsed as JSON."""
    request = urllib.request.Request(
        f"{api_base}/v1/threads/{thread_id}/runs/{run_id}/events",
        headers={"Authorization": f"Bearer {api_key}",
                 **({"Last-Event-ID": last_event_id} if last_event_id else {})},
    )
    found: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    with urllib.request.urlopen(request, timeout=timeout) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        for raw in response:
            line = raw.decode().rstrip("\n")
            if not line:
                if "event" in current:
                    found.append(current)
                current = {}
            elif line.startswith("id: "):
                current["id"] = line[4:]
            elif line.startswith("event: "):
                current["event"] = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
                current["data"] = data if data == "[DONE]" else json.loads(data)
    return found
