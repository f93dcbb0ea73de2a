"""Process handling shared by the benchmarks (run them as `python bench/NAME.py`)."""
import os
import signal
import subprocess
from typing import Any


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (gunicorn and Celery shut down warm); the process group is killed if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def stop_on_sigterm() -> None:
    """SIGTERM (`timeout`'s, say) unwinds like Ctrl-C, so a benchmark's cleanup runs and
    leaves no deployment behind."""
    def handler(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
