"""What code in the sandbox must not do, on every backend this machine has: reach any
network, outgrow its limits, read the host, see another thread's files. After each attempt
the same thread's next call works."""
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.sessions import Sessions
from tests.support.sandbox import BACKENDS, TEST_LIMITS, sessions_on

REPOSITORY = Path(__file__).resolve().parents[3]


@pytest.fixture(params=BACKENDS)
def sandbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Sessions]:
    with sessions_on(str(request.param), tmp_path) as sessions:
        yield sessions


@pytest.fixture
def thread() -> str:
    return f"thread_{uuid.uuid4().hex}"


def next_call_works(sandbox: Sessions, thread: str) -> None:
    result = sandbox.run_cell(thread, "print(sum(range(10)))")
    assert (result.logs, result.error) == ("45\n", False)


def test_no_network_loopback_or_outside(sandbox: Sessions, thread: str) -> None:
    result = sandbox.run_cell(thread, (
        "import socket\n"
        "for host, port in [('127.0.0.1', 6379), ('127.0.0.1', 5432), ('1.1.1.1', 53),\n"
        "                   ('151.101.2.132', 80)]:\n"
        "    try:\n"
        "        socket.create_connection((host, port), timeout=2).close()\n"
        "        print('reached', host, port)\n"
        "    except OSError as error:\n"
        "        print('blocked', host, port)\n"
        "try:\n"
        "    socket.getaddrinfo('deb.debian.org', 80)\n"
        "    print('resolved')\n"
        "except OSError:\n"
        "    print('no dns')\n"
        "print([name for _, name in socket.if_nameindex()])\n"
    ))
    assert result.logs.splitlines() == [
        "blocked 127.0.0.1 6379", "blocked 127.0.0.1 5432", "blocked 1.1.1.1 53",
        "blocked 151.101.2.132 80", "no dns", "['lo']"], result.logs
    next_call_works(sandbox, thread)


def test_fork_bomb_is_contained(sandbox: Sessions, thread: str) -> None:
    result = sandbox.run_cell(thread, (
        "import os\n"
        "while True:\n"
        "    try:\n"
        "        os.fork()\n"
        "    except OSError:\n"
        "        pass\n"
    ))
    assert result.error
    assert "timed out" in result.logs
    next_call_works(sandbox, thread)
    # The bomb's processes went with the session: the new one is back to its kernel alone.
    count = sandbox.run_cell(thread, "import os\nprint(len([p for p in os.listdir('/proc') "
                                    "if p.isdigit()]) <= 3)")
    assert count.logs == "True\n"


def test_process_count_is_limited(sandbox: Sessions, thread: str) -> None:
    result = sandbox.run_cell(thread, (
        "import subprocess\n"
        "children = []\n"
        "try:\n"
        f"    for _ in range({TEST_LIMITS['sandbox_pids'] * 2}):\n"
        "        children.append(subprocess.Popen(['sleep', '30']))\n"
        "except OSError as error:\n"
        "    print('refused after', len(children) < 64)\n"
        "for child in children:\n"
        "    child.kill()\n"
        "    child.wait()\n"
    ))
    assert result.logs == "refused after True\n", result.logs
    next_call_works(sandbox, thread)


def test_memory_bomb_is_killed(sandbox: Sessions, thread: str) -> None:
    sandbox.run_cell(thread, "before = 1")
    result = sandbox.run_cell(thread, "hog = b'x' * (2 * 1024 ** 3)")
    assert result.error
    assert "memory limit" in result.logs and "restarted" in result.logs
    next_call_works(sandbox, thread)
    assert "NameError" in sandbox.run_cell(thread, "before").logs


def test_endless_loop_is_killed_at_the_time_limit(sandbox: Sessions, thread: str) -> None:
    sandbox.run_cell(thread, "before = 1")
    result = sandbox.run_cell(thread, "while True:\n    pass")
    assert result.error
    limit = TEST_LIMITS["sandbox_time_limit_seconds"]
    assert result.logs.startswith(f"Execution timed out after {limit:g} seconds;")
    assert "variables and files from earlier calls are gone" in result.logs
    next_call_works(sandbox, thread)


def test_host_files_and_secrets_are_unreadable(sandbox: Sessions, thread: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    secret = f"sk-secret-{uuid.uuid4().hex}"
    # The worker's own environment, as the session's parent process sees it.
    monkeypatch.setenv("TREADLE_MODEL_API_KEY", secret)
    project_file = REPOSITORY / "shared" / "config.py"
    result = sandbox.run_cell(thread, (
        "import os\n"
        f"for path in ['/etc/shadow', {str(project_file)!r}, {str(REPOSITORY)!r},\n"
        f"             {str(sandbox.root)!r}, '/proc/1/root/etc/shadow']:\n"
        "    try:\n"
        "        open(path, 'rb').read()\n"
        "        print('read', path)\n"
        "    except OSError as error:\n"
        "        print(type(error).__name__)\n"
        "seen = [k for k in os.environ if k.startswith('TREADLE')]\n"
        "for pid in [p for p in os.listdir('/proc') if p.isdigit()]:\n"
        "    for part in ('environ', 'cmdline'):\n"
        "        try:\n"
        f"            if {secret!r}.encode() in open(f'/proc/{{pid}}/{{part}}', 'rb').read():\n"
        "                seen.append(pid)\n"
        "        except OSError:\n"
        "            pass\n"
        "print('seen', seen)\n"
        "status = open('/proc/self/status').read()\n"
        "print([line.split()[1] for line in status.splitlines()\n"
        "       if line.startswith(('CapEff', 'CapPrm', 'NoNewPrivs'))], os.getuid())\n"
    ))
    lines = result.logs.splitlines()
    # The project and the sessions' directory are not there at all.
    assert lines[:5] == ["PermissionError", "FileNotFoundError", "FileNotFoundError",
                         "FileNotFoundError", "PermissionError"], result.logs
    assert lines[5] == "seen []"
    assert lines[6] == "['0000000000000000', '0000000000000000', '1'] 65534"
    next_call_works(sandbox, thread)


def test_root_is_read_only_and_data_and_tmp_are_writable(sandbox: Sessions,
                                                         thread: str) -> None:
    result = sandbox.run_cell(thread, (
        "for path in ['/usr/bin/evil', '/etc/evil', '/evil', '/mnt/data/ok', '/tmp/ok']:\n"
        "    try:\n"
        "        open(path, 'w').write('x')\n"
        "        print('wrote', path)\n"
        "    except OSError as error:\n"
        "        print('refused', path)\n"
    ))
    assert result.logs.splitlines() == [
        "refused /usr/bin/evil", "refused /etc/evil", "refused /evil", "wrote /mnt/data/ok",
        "wrote /tmp/ok"]
    next_call_works(sandbox, thread)


def test_another_threads_files_are_invisible(sandbox: Sessions, thread: str) -> None:
    other = f"thread_{uuid.uuid4().hex}"
    sandbox.run_cell(other, "open('/mnt/data/private.txt', 'w').write('mine')\n"
                           "open('/tmp/private.txt', 'w').write('mine')")
    result = sandbox.run_cell(thread, (
        "import os\n"
        "found = []\n"
        "for top in ['/mnt', '/tmp', '/run', '/var', '/home', '/root']:\n"
        "    for folder, _, names in os.walk(top):\n"
        "        found += [n for n in names if n == 'private.txt']\n"
        "print(found)\n"
    ))
    assert result.logs == "[]\n"
    next_call_works(sandbox, thread)


def test_huge_output_is_truncated(sandbox: Sessions, thread: str) -> None:
    limit = TEST_LIMITS["sandbox_output_limit_chars"]
    result = sandbox.run_cell(thread, "for i in range(100_000):\n    print('line', i)")
    assert not result.error
    assert len(result.logs) < limit + 200
    assert result.logs.startswith("line 0\nline 1\n")
    assert result.logs.endswith("line 99999\n")
    assert "output truncated" in result.logs
    # Output written straight to the descriptors (a child process) is bounded too.
    child = sandbox.run_cell(thread, "import subprocess\n"
                                    "subprocess.run(['python3', '-c', \"print('y' * 10**7)\"])")
    assert len(child.logs) < limit + 200
    assert "output truncated" in child.logs
    next_call_works(sandbox, thread)
