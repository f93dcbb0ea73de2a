"""Connection hygiene and Idempotency-Key cost of a Treadle server started here.

Prints: how many of 100 stalled uploads the server dropped (408 then closed) within its
body timeout plus 3 s; how many of 50 keep-alive connections idle 6 s (longer than httpx's
and Node's pools keep one) still served their next request; and POST /v1/threads latency
(p50/p99, one connection) without a key, with a fresh key each, and replayed.

    .venv/bin/python bench/connections.py [--requests 500]

Serves Treadle on a throwaway database as bench/rest.py does, with
TREADLE_API_BODY_TIMEOUT_SECONDS=2.
"""
import argparse
import http.client
import json
import os
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from rest import local_server, percentile_ms

BODY_TIMEOUT = 2
STALLED = 100
IDLE_CONNECTIONS = 50
IDLE_SECONDS = 6


def stalled_dropped(host: str, port: int, key: str) -> int:
    head = (f"POST /v1/threads HTTP/1.1\r\nHost: b\r\nAuthorization: Bearer {key}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{").encode()
    socks = [socket.create_connection((host, port)) for _ in range(STALLED)]
    for sock in socks:
        sock.sendall(head)
    deadline = time.monotonic() + BODY_TIMEOUT + 3
    dropped = 0
    for sock in socks:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
            dropped += received.startswith(b"HTTP/1.1 408")
        except TimeoutError:
            pass
        sock.close()
    return dropped


def reused_after_idle(host: str, port: int) -> int:
    def one(_: int) -> bool:
        connection = http.client.HTTPConnection(host, port, timeout=10)
        connection.request("GET", "/health")
        connection.getresponse().read()
        time.sleep(IDLE_SECONDS)
        try:
            connection.request("GET", "/health")
            return connection.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    with ThreadPoolExecutor(IDLE_CONNECTIONS) as pool:
        return sum(pool.map(one, range(IDLE_CONNECTIONS)))


def latencies(host: str, port: int, key: str, count: int, keys: list[str] | None
              ) -> list[float]:
    connection = http.client.HTTPConnection(host, port, timeout=10)
    body = json.dumps({"metadata": {"bench": "1"}})
    taken = []
    for index in range(count):
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        if keys is not None:
            headers["Idempotency-Key"] = keys[index]
        started = time.perf_counter()
        connection.request("POST", "/v1/threads", body, headers)
        response = connection.getresponse()
        response.read()
        taken.append(time.perf_counter() - started)
        assert response.status == 200, response.status
    connection.close()
    return sorted(taken)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    os.environ["TREADLE_API_BODY_TIMEOUT_SECONDS"] = str(BODY_TIMEOUT)
    with local_server() as server:
        parts = urlsplit(server.url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        print(f"stalled uploads dropped within {BODY_TIMEOUT + 3} s: "
              f"{stalled_dropped(host, port, server.key)}/{STALLED}")
        print(f"connections reused after {IDLE_SECONDS} s idle: "
              f"{reused_after_idle(host, port)}/{IDLE_CONNECTIONS}")
        keys = [uuid.uuid4().hex for _ in range(args.requests)]
        latencies(host, port, server.key, 50, None)  # warm-up
        for name, used in (("no key", None), ("fresh key", keys), ("replayed", keys)):
            taken = latencies(host, port, server.key, args.requests, used)
            print(f"POST /v1/threads {name:>9}: p50 {percentile_ms(taken, 50):.2f} ms, "
                  f"p99 {percentile_ms(taken, 99):.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
