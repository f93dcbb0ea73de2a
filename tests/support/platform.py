"""`treadle up` with no service URLs, as an operator runs it: embedded PostgreSQL and Redis
under a data directory of its own, every process under its supervisor.

Used by the embedded-services tests, the chaos suite and `bench/chaos.py`.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

TREADLE = Path(sys.executable).with_name("treadle")
SERVICE_VARIABLES = ("TREADLE_DATABASE_URL", "TREADLE_REDIS_URL", "TREADLE_BROKER_URL",
                     "TREADLE_QDRANT_URL")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def data_dir() -> Path:
    """Not under pytest's tmp_path: as root, pgserver runs PostgreSQL as another user, who
    must traverse every parent, and pytest keeps resetting its own root to mode 0700."""
    return Path(tempfile.mkdtemp(prefix="treadle-up-"))


def bare_env(folder: Path, model_url: str, **extra: str) -> dict[str, str]:
    """The environment of a `treadle up` that serves everything itself from `folder`."""
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
    env.update({"TREADLE_DATA_DIR": str(folder / "data"), "TREADLE_API_PORT": str(free_port()),
                "TREADLE_API_WORKERS": "1", "TREADLE_MODEL_BASE_URL": model_url,
                "TREADLE_EMBEDDINGS_BASE_URL": model_url, "TREADLE_LOG_FORMAT": "text",
                **extra})
    return env


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


class Up:
    """One `treadle up` process and what it printed."""

    def __init__(self, env: dict[str, str], log: Path, wait: bool = True) -> None:
        self.env, self.log = env, log
        self.base = f"http://127.0.0.1:{env['TREADLE_API_PORT']}"
        self.data = Path(env["TREADLE_DATA_DIR"])
        with open(log, "ab") as out:
            self.process = subprocess.Popen([str(TREADLE), "up"], env=env, stdout=out,
                                            stderr=subprocess.STDOUT)
        if wait:
            self.wait_serving(90)

    def printed(self) -> str:
        return self.log.read_text(errors="replace")

    def key(self) -> str:
        found = re.search(r"sk-treadle-\S+", self.printed())
        assert found is not None, self.printed()[-3000:]
        return found.group(0)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base}/ready", timeout=2) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.HTTPError):
            return False

    def wait_ready(self, seconds: float) -> float:
        """Seconds until /ready answers 200; raises after `seconds`."""
        started = time.monotonic()
        while not self.ready():
            if self.process.poll() is not None:
                raise RuntimeError(f"treadle up exited:\n{self.printed()[-3000:]}")
            if time.monotonic() - started > seconds:
                raise RuntimeError(f"not ready after {seconds} s:\n{self.printed()[-3000:]}")
            time.sleep(0.1)
        return time.monotonic() - started

    def wait_serving(self, seconds: float) -> None:
        """Ready, and every runs worker answers a ping."""
        self.wait_ready(seconds)
        deadline = time.monotonic() + seconds
        while not re.search(r"\bruns(-\d+)?@", self.cli("status").stdout):
            assert time.monotonic() < deadline, "the runs pool never answered a ping"
            time.sleep(0.5)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(TREADLE), *args], env=self.env, capture_output=True,
                              text=True, timeout=120)

    def supervisor(self) -> Any:
        from shared.platform.supervisor import control

        return control(self.data.resolve() / "supervisor").supervisor

    def info(self, program: str) -> dict[str, Any]:
        """supervisord's record of one program (`postgres`, `redis`, `api`, `runs-1`, ...)."""
        from shared.platform.supervisor import PLATFORM, SERVICES

        group = SERVICES if program in ("postgres", "redis") else PLATFORM
        return dict(self.supervisor().getProcessInfo(f"{group}:{program}"))

    def pid(self, program: str) -> int:
        return int(self.info(program)["pid"])

    def kill(self, program: str) -> int:
        """kill -9 the program's process (its whole group: gunicorn's workers too)."""
        pid = self.pid(program)
        os.killpg(os.getpgid(pid), signal.SIGKILL)
        return pid

    def stop(self, timeout: float = 90) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def leftovers(self) -> list[str]:
        """Processes still running from this instance's data directory."""
        found = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
        marker = str(self.data.resolve())
        return [line for line in found.splitlines() if marker in line and "ps -eo" not in line]
