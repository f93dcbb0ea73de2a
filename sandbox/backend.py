"""What every sandbox backend provides, and the limits they all enforce the same way."""
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from shared.config import Settings

KERNEL_SOURCE = (Path(__file__).parent / "kernel.py").read_text()
# Where the kernel's socket directory appears inside every sandbox.
RUN_DIR = "/run/treadle"
SOCKET_NAME = "k"
SANDBOX_UID = 65534


@dataclass(frozen=True)
class Limits:
    memory_mb: int
    cpus: float
    pids: int
    data_mb: int
    tmp_mb: int

    @classmethod
    def from_settings(cls, settings: Settings) -> "Limits":
        return cls(memory_mb=settings.sandbox_memory_mb, cpus=settings.sandbox_cpus,
                   pids=settings.sandbox_pids, data_mb=settings.sandbox_data_mb,
                   tmp_mb=settings.sandbox_tmp_mb)


@dataclass(frozen=True)
class Place:
    """Where one thread's session lives on this host: its engine name and its directory."""

    name: str
    root: Path

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def socket(self) -> Path:
        return self.run_dir / SOCKET_NAME


def scope_of(data_dir: Path) -> str:
    """A short tag of this installation, so two data directories sharing one engine never
    touch each other's sessions."""
    return hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:8]


def kernel_command(address: str = f"{RUN_DIR}/{SOCKET_NAME}") -> list[str]:
    """The kernel's command line; `address` is where it listens (see sandbox/kernel.py)."""
    return ["python3", "-I", "-c", KERNEL_SOURCE, address]


class Backend(Protocol):
    name: str

    def start(self, place: Place, limits: Limits) -> None:
        """Launch the kernel in a fresh sandbox; it binds `place.socket` once ready."""

    def stop(self, place: Place) -> None:
        """Kill every process of the session; harmless when nothing is running."""

    def running(self) -> set[str]:
        """Names of this installation's sessions the engine still holds."""

    def memory_bytes(self, place: Place) -> int | None:
        """Memory the session's processes use now, when the engine can tell."""
