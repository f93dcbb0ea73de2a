"""Sandbox sessions on each backend this machine has, for the sandbox tests and bench."""
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from sandbox.docker_backend import DockerBackend
from sandbox.sessions import Sessions, make_backend
from shared.config import Settings

BACKENDS = ("docker", "bwrap")
# Small limits keep the bombs and loops of the tests short.
TEST_LIMITS: dict[str, Any] = {
    "sandbox_time_limit_seconds": 8.0, "sandbox_memory_mb": 256, "sandbox_pids": 64,
    "sandbox_output_limit_chars": 2000,
}


def engine_absent(backend: str, settings: Settings) -> str | None:
    """Why the backend's engine is missing from this machine; None when it is here. A
    missing image or root is no reason to skip: deploy/sandbox/prepare.sh makes them."""
    if backend == "bwrap":
        return None if shutil.which("bwrap") else "bubblewrap (bwrap) is not installed"
    engine = DockerBackend(settings.sandbox_docker_host, settings.sandbox_image, "probe")
    try:
        engine.client.ping()
    except Exception as error:
        return f"no Docker engine answers at {settings.sandbox_docker_host or 'the default'}: "\
               f"{error} (set TREADLE_SANDBOX_DOCKER_HOST, see deploy/sandbox/prepare.sh)"
    return None


def backend_settings(backend: str, data_dir: Path, **overrides: Any) -> Settings:
    settings = Settings(sandbox=backend, data_dir=data_dir, **{**TEST_LIMITS, **overrides})
    reason = engine_absent(backend, settings)
    if reason is not None:
        print(f"skipping the {backend} sandbox backend: {reason}")
        pytest.skip(f"{backend}: {reason}")
    return settings


@contextmanager
def sessions_on(backend: str, data_dir: Path, **overrides: Any) -> Iterator[Sessions]:
    """Sessions on the backend, every session they started ended afterwards."""
    settings = backend_settings(backend, data_dir, **overrides)
    sessions = Sessions(make_backend(settings), settings)
    try:
        yield sessions
    finally:
        end_all(settings)


def end_all(settings: Settings) -> None:
    Sessions(make_backend(settings), settings.model_copy(
        update={"sandbox_idle_seconds": -1})).reap()
