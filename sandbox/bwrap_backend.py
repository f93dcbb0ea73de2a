"""Sessions as bubblewrap namespaces, for hosts without a Docker engine.

bwrap runs unprivileged as uid 65534 (so nothing root-owned in the Debian root it binds
read-only is readable), in new user, pid, net, ipc, uts and mount namespaces. Limits come
from cgroup v1 groups nested under this process's own when they are writable, else from
rlimits (memory as the data segment, pids as the uid's process count; no CPU share then).
The namespace's first process is recorded, so killing it ends the whole pid namespace.
"""
import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

from sandbox.backend import SANDBOX_UID, Limits, Place, kernel_command
from sandbox.channel import listen

CONTROLLERS = ("memory", "pids", "cpu")
CGROUP_ROOT = Path("/sys/fs/cgroup")
CFS_PERIOD_US = 100_000
_HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _own_cgroup(controller: str) -> str | None:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            return path
    return None


def _cgroup_parents() -> dict[str, Path]:
    """The writable cgroup v1 hierarchies, each at the group this process is in: session
    groups go right under it (named for the session, so they carry the installation's tag)
    and count against whatever limits the worker itself runs under."""
    parents = {}
    for controller in CONTROLLERS:
        own = _own_cgroup(controller)
        if own is None:
            continue
        parent = CGROUP_ROOT / controller / own.lstrip("/")
        if (parent / "cgroup.procs").exists() and os.access(parent, os.W_OK):
            parents[controller] = parent
    return parents


def _write(path: Path, value: int) -> None:
    path.write_text(str(value))


class BwrapBackend:
    name = "bwrap"

    def __init__(self, rootfs: Path, scope: str) -> None:
        self.rootfs = rootfs
        self.scope = scope
        self.cgroups = _cgroup_parents()

    def available(self) -> str | None:
        if shutil.which("bwrap") is None:
            return "bubblewrap (bwrap) is not installed"
        if not (self.rootfs / "usr/bin/python3").exists():
            return f"no sandbox root at {self.rootfs} (run deploy/sandbox/prepare.sh)"
        return None

    def _limit_groups(self, place: Place, limits: Limits) -> list[Path]:
        groups = []
        for controller, parent in self.cgroups.items():
            group = parent / place.name
            group.mkdir(exist_ok=True)
            if controller == "memory":
                _write(group / "memory.limit_in_bytes", limits.memory_mb << 20)
                if (group / "memory.memsw.limit_in_bytes").exists():
                    _write(group / "memory.memsw.limit_in_bytes", limits.memory_mb << 20)
            elif controller == "pids":
                _write(group / "pids.max", limits.pids)
            else:
                _write(group / "cpu.cfs_period_us", CFS_PERIOD_US)
                _write(group / "cpu.cfs_quota_us", int(limits.cpus * CFS_PERIOD_US))
            groups.append(group)
        return groups

    def _rlimits(self, limits: Limits) -> list[str]:
        args = []
        if "memory" not in self.cgroups:
            size = limits.memory_mb << 20
            args.append(f"--data={size}:{size}")
        if "pids" not in self.cgroups:
            args.append(f"--nproc={limits.pids}:{limits.pids}")
        return ["prlimit", *args, "--"] if args else []

    def _bwrap(self, place: Place, limits: Limits, server_fd: int, info_fd: int) -> list[str]:
        root = str(self.rootfs)
        return [
            "bwrap", "--unshare-all", "--unshare-user", "--disable-userns",
            "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--cap-drop", "ALL",
            "--new-session", "--hostname", place.name, "--clearenv",
            "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp",
            "--setenv", "LANG", "C.UTF-8", "--setenv", "MPLBACKEND", "Agg",
            "--setenv", "MPLCONFIGDIR", "/tmp/matplotlib",
            "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
            "--ro-bind", f"{root}/usr", "/usr", "--ro-bind", f"{root}/etc", "/etc",
            "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
            "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--proc", "/proc", "--dev", "/dev",
            "--size", str(limits.tmp_mb << 20), "--perms", "1777", "--tmpfs", "/tmp",
            "--size", str(limits.data_mb << 20), "--perms", "0700", "--tmpfs", "/mnt/data",
            "--info-fd", str(info_fd), "--remount-ro", "/", "--chdir", "/mnt/data",
            "--", *kernel_command(f"fd:{server_fd}"),
        ]

    def start(self, place: Place, limits: Limits) -> None:
        groups = self._limit_groups(place, limits)
        # The shell joins the groups, then setsid -f leaves bwrap to init, so the session
        # outlives this worker and any sandbox worker on the host can reach its socket.
        join = "".join(f"echo $$ > {shlex.quote(str(g / 'cgroup.procs'))}\n" for g in groups)
        # The host makes the kernel's listening socket and hands it down: bwrap, running
        # unprivileged, could not reach a directory under a private data directory.
        place.socket.unlink(missing_ok=True)
        server = listen(place.socket)
        try:
            with open(place.root / "info.json", "wb") as info, \
                    open(place.root / "sandbox.log", "wb") as log:
                fds = (server.fileno(), info.fileno())
                command = [
                    "/bin/sh", "-c", join + 'exec "$@"', "sh", "setsid", "-f",
                    *self._rlimits(limits),
                    "setpriv", f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_UID}",
                    "--clear-groups", "--", *self._bwrap(place, limits, *fds),
                ]
                # bwrap's own pid 1 inside the sandbox keeps the environment it was started
                # with, readable there in /proc/1/environ: the worker's must not reach it.
                subprocess.run(command, pass_fds=fds, check=True, env={"PATH": _HOST_PATH},
                               stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        finally:
            server.close()

    def _first_process(self, place: Place) -> int | None:
        """The namespace's pid 1, checked to still be this session's bwrap (pids recycle)."""
        try:
            pid = int(json.loads((place.root / "info.json").read_text())["child-pid"])
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, KeyError):
            return None
        if command[:1] == [b"bwrap"] and place.name.encode() in command:
            return pid
        return None

    def stop(self, place: Place) -> None:
        pid = self._first_process(place)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for parent in self.cgroups.values():
            group = parent / place.name
            for _ in range(200):
                try:
                    pids = (group / "cgroup.procs").read_text().split()
                except FileNotFoundError:
                    break
                for member in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(member), signal.SIGKILL)
                try:
                    group.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)
        (place.root / "info.json").unlink(missing_ok=True)

    def running(self) -> set[str]:
        prefix = f"treadle-{self.scope}-"
        return {group.name for parent in self.cgroups.values()
                for group in parent.iterdir() if group.name.startswith(prefix)}

    def memory_bytes(self, place: Place) -> int | None:
        parent = self.cgroups.get("memory")
        if parent is None:
            return None
        try:
            return int((parent / place.name / "memory.usage_in_bytes").read_text())
        except FileNotFoundError:
            return None
