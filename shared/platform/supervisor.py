"""`treadle up`'s processes under supervisord, so one that dies is started again.

Two groups: `services` (the embedded PostgreSQL and Redis) start first and stop last;
`platform` (the API, the worker pools, the scheduler) is started once the services answer
and the database is migrated, and is stopped as one: every process gets its stop signal at
once, then the services stop. A process that exits is started again at once; one that dies
within `START_SECONDS` of its start waits one second longer before each new try, without end
(supervisord's BACKOFF), so a platform whose database is away keeps trying quietly.

Everything of one instance (configuration, control socket, logs) lives in its data
directory, so two instances in two directories share nothing.
"""
import configparser
import shlex
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path

from supervisor.xmlrpc import SupervisorTransport

from shared.platform.embedded import socket_path

SERVICES = "services"
PLATFORM = "platform"
START_SECONDS = 5
# supervisord gives up on a program after this many failed starts in a row; a day of tries.
_START_RETRIES = 1000


@dataclass(frozen=True)
class Program:
    name: str
    command: list[str]
    group: str
    user: str | None = None
    stop_signal: str = "TERM"
    stop_seconds: float = 10.0
    # Where its output goes; None: the supervisor's own standard output (the terminal).
    log: Path | None = None
    # None: the program writes its own log and its output is dropped.
    keep_output: bool = True
    environment: dict[str, str] = field(default_factory=dict)
    # Runs once to its end (exit 0) instead of being kept running.
    once: bool = False


def _quote(command: list[str]) -> str:
    # supervisord expands %(name)s in commands, so a literal % is written twice.
    return shlex.join(command).replace("%", "%%")


def write_config(folder: Path, programs: list[Program]) -> Path:
    """supervisord's configuration for `programs`, written under `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    control = socket_path(folder, "supervisor.sock")
    config = configparser.ConfigParser(interpolation=None)
    config["supervisord"] = {
        "nodaemon": "true", "logfile": str(folder / "supervisord.log"),
        "logfile_maxbytes": "10MB", "logfile_backups": "2", "loglevel": "info",
        "pidfile": str(folder / "supervisord.pid"), "childlogdir": str(folder),
    }
    config["unix_http_server"] = {"file": str(control), "chmod": "0700"}
    config["rpcinterface:supervisor"] = {
        "supervisor.rpcinterface_factory": "supervisor.rpcinterface:make_main_rpcinterface"}
    config["supervisorctl"] = {"serverurl": f"unix://{control}"}
    for program in programs:
        section = {
            "command": _quote(program.command), "autostart": str(program.group == SERVICES).lower(),
            "autorestart": "unexpected" if program.once else "true",
            "startsecs": "0" if program.once else str(START_SECONDS),
            "startretries": str(_START_RETRIES), "stopsignal": program.stop_signal,
            "stopwaitsecs": str(int(program.stop_seconds)), "stopasgroup": "true",
            "killasgroup": "true", "redirect_stderr": "true",
        }
        if program.user:
            section["user"] = program.user
        if not program.keep_output:
            section["stdout_logfile"] = "NONE"
        else:
            section["stdout_logfile"] = str(program.log or "/dev/stdout")
            section["stdout_logfile_maxbytes"] = "10MB" if program.log else "0"
        if program.environment:
            section["environment"] = ",".join(
                f'{k}="{v}"' for k, v in program.environment.items()).replace("%", "%%")
        config[f"program:{program.name}"] = section
    for group, priority in ((SERVICES, 100), (PLATFORM, 200)):
        names = [p.name for p in programs if p.group == group]
        if names:
            config[f"group:{group}"] = {"programs": ",".join(names), "priority": str(priority)}
    path = folder / "supervisord.conf"
    with open(path, "w") as handle:
        config.write(handle)
    return path


def control(folder: Path) -> xmlrpc.client.ServerProxy:
    """The running supervisord's XML-RPC interface (`supervisor.*` methods)."""
    url = f"unix://{socket_path(folder, 'supervisor.sock')}"
    return xmlrpc.client.ServerProxy("http://127.0.0.1",
                                     transport=SupervisorTransport(None, None, url))


def start_group(folder: Path, group: str) -> None:
    control(folder).supervisor.startProcessGroup(group, False)
