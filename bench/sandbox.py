"""code_interpreter sandbox, per backend, through the sandbox interface (sandbox.sessions).

For each backend this machine has: a warm call (`print(1)` on a live session) p50/p99
(target p50 <= 20 ms), a cold session start (the first call of a new thread, session
start included; target <= 500 ms) p50/max, and the memory of an idle session after
`print(1)` (the engine's count: the container's or the cgroup's usage).

    .venv/bin/python bench/sandbox.py [--warm 500] [--cold 10] [--backends docker,bwrap]

The Docker backend needs TREADLE_SANDBOX_DOCKER_HOST (deploy/sandbox/prepare.sh prints it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sandbox.sessions import Sessions, make_backend
from shared.config import Settings

TARGET_WARM_P50_MS = 20.0
TARGET_COLD_MS = 500.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def bench(backend: str, warm_calls: int, cold_starts: int) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(sandbox=backend, data_dir=Path(data_dir))
        sessions = Sessions(make_backend(settings), settings)
        try:
            cold = []
            threads = []
            for _ in range(cold_starts):
                thread = f"thread_{uuid.uuid4().hex}"
                threads.append(thread)
                started = time.perf_counter()
                sessions.run_cell(thread, "print(1)")
                cold.append((time.perf_counter() - started) * 1000)
            memory = [sessions.backend.memory_bytes(sessions.place(t)) for t in threads]
            known = [m for m in memory if m is not None]
            warm = []
            for _ in range(warm_calls):
                started = time.perf_counter()
                result = sessions.run_cell(threads[0], "print(1)")
                warm.append((time.perf_counter() - started) * 1000)
                assert result.logs == "1\n", result.logs
        finally:
            Sessions(sessions.backend, settings.model_copy(
                update={"sandbox_idle_seconds": -1})).reap()
    print(f"{backend}: warm print(1) p50 {statistics.median(warm):.2f} ms, "
          f"p99 {percentile(warm, 0.99):.2f} ms (target p50 <= {TARGET_WARM_P50_MS:g}) "
          f"over {warm_calls} calls")
    print(f"{backend}: cold session start + print(1) p50 {statistics.median(cold):.0f} ms, "
          f"max {max(cold):.0f} ms (target <= {TARGET_COLD_MS:g}) over {cold_starts} sessions")
    if known:
        print(f"{backend}: idle session memory {statistics.median(known) / 2**20:.1f} MiB "
              f"(median of {len(known)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", type=int, default=500)
    parser.add_argument("--cold", type=int, default=10)
    parser.add_argument("--backends", default="docker,bwrap")
    args = parser.parse_args()
    for backend in args.backends.split(","):
        bench(backend, args.warm, args.cold)


if __name__ == "__main__":
    main()
