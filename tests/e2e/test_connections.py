"""Connection hygiene of the running server: what gunicorn refuses before the app runs is an
OpenAI error too, a stalled body is dropped, keep-alive outlasts clients' pools, and bodies
and message content are capped."""
import http.client
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.conftest import free_port, start_process, stop_processes, wait_until_healthy

CAP = 256_000


def send(base: str, head: str, body: bytes = b"") -> socket.socket:
    """Send a raw request (`head` without the blank line); the socket."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(head.encode("latin-1") + b"\r\n" + body)
    return sock


def answer(sock: socket.socket) -> tuple[int, dict[str, str], Any]:
    response = http.client.HTTPResponse(sock)
    response.begin()
    raw = response.read()
    headers = {name.lower(): value for name, value in response.getheaders()}
    return response.status, headers, json.loads(raw)


def exchange(base: str, head: str) -> tuple[int, dict[str, str], Any]:
    return answer(send(base, head))


def assert_error(status: int, headers: dict[str, str], body: Any, expected: int) -> None:
    assert status == expected, (status, body)
    assert headers["content-type"] == "application/json", headers
    assert headers.get("x-request-id"), headers
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    assert body["error"]["type"] == "invalid_request_error" and body["error"]["message"]


def test_an_overlong_request_line_is_a_json_414(api_base: str, api_key: str) -> None:
    path = "/v1/threads/thread_" + "a" * 9000
    status, headers, body = exchange(
        api_base, f"GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {api_key}\r\n")
    assert_error(status, headers, body, 414)


def test_a_4kb_id_reaches_the_app(api_base: str, api_key: str) -> None:
    path = "/v1/threads/thread_" + "a" * 4096
    status, headers, body = exchange(
        api_base, f"GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {api_key}\r\n")
    assert_error(status, headers, body, 404)


def test_an_overlong_header_is_a_json_431(api_base: str, api_key: str) -> None:
    status, headers, body = exchange(
        api_base, f"GET /v1/threads HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {api_key}"
                  f"\r\nX-Big: {'b' * 9000}\r\n")
    assert_error(status, headers, body, 431)


def test_a_body_over_the_limit_is_a_json_413_before_it_is_read(api_base: str,
                                                               api_key: str) -> None:
    # Only the head is sent: the answer must not wait for 40 MB that never come.
    status, headers, body = exchange(
        api_base, f"POST /v1/threads HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {api_key}"
                  f"\r\nContent-Type: application/json\r\nContent-Length: {40 * 1024 * 1024}"
                  "\r\n")
    assert_error(status, headers, body, 413)


def test_a_connection_idle_past_the_old_keepalive_is_reused(api_base: str) -> None:
    host, port = api_base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("GET", "/health")
    assert connection.getresponse().read()
    first = connection.sock
    time.sleep(2.5)  # gunicorn's default keep-alive was 2 s
    connection.request("GET", "/health")
    assert connection.getresponse().status == 200
    assert connection.sock is first
    connection.close()


def test_message_content_is_capped_as_openai_caps_it(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()
    assert client.beta.threads.messages.create(thread.id, role="user", content="x" * CAP)
    too_long = "x" * (CAP + 1)
    cases = [
        ("content", lambda: client.beta.threads.messages.create(
            thread.id, role="user", content=too_long)),
        ("content[0].text", lambda: client.beta.threads.messages.create(
            thread.id, role="user", content=[{"type": "text", "text": too_long}])),
        ("messages[0].content", lambda: client.beta.threads.create(
            messages=[{"role": "user", "content": too_long}])),
        ("additional_messages[0].content", lambda: client.beta.threads.runs.create(
            thread.id, assistant_id="asst_" + "a" * 24,
            additional_messages=[{"role": "user", "content": too_long}])),
    ]
    for param, call in cases:
        with pytest.raises(openai.BadRequestError) as refused:
            call()
        assert refused.value.param == param
        assert "maximum length 256000" in refused.value.message
    assert len(client.beta.threads.messages.list(thread.id).data) == 1


@pytest.fixture(scope="module")
def impatient_api(server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[str]:
    """An API process that waits one second for a stalled body."""
    port = free_port()
    log = Path(tmp_path_factory.mktemp("impatient")) / "api.log"
    process = start_process(["api", "--port", str(port)],
                            {**server_env, "TREADLE_API_BODY_TIMEOUT_SECONDS": "1"}, log)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_processes([process])


def test_stalled_bodies_are_answered_408_and_dropped(impatient_api: str,
                                                     api_key: str) -> None:
    head = (f"POST /v1/threads HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {api_key}\r\n"
            "Content-Type: application/json\r\nContent-Length: 200\r\n")
    stalled = [send(impatient_api, head, b'{"metadata": {') for _ in range(5)]
    for sock in stalled:
        assert_error(*answer(sock), 408)
        # ...and the server hung up rather than wait for the rest.
        assert sock.recv(1) == b""
