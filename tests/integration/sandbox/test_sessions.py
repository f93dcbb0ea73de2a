"""The code_interpreter sandbox through its interface, on every backend this machine has:
sessions keep state like a notebook kernel, take and give back files, draw images, and come
back by themselves after a reap or a crash."""
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.sessions import InputFile, Sessions
from tests.support.sandbox import BACKENDS, sessions_on


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sandbox(backend: str, tmp_path: Path) -> Iterator[Sessions]:
    with sessions_on(backend, tmp_path) as sessions:
        yield sessions


def new_thread() -> str:
    return f"thread_{uuid.uuid4().hex}"


def test_state_carries_from_one_call_to_the_next(sandbox: Sessions) -> None:
    thread = new_thread()
    first = sandbox.run_cell(thread, "import math\nx = 41\ndef twice(n):\n    return 2 * n")
    assert (first.logs, first.error, first.files) == ("", False, [])
    second = sandbox.run_cell(thread, "print(twice(x) - math.floor(40.5))\nx + 1")
    assert second.logs == "42\n42\n"
    assert not second.error


def test_errors_come_back_as_output(sandbox: Sessions) -> None:
    thread = new_thread()
    result = sandbox.run_cell(thread, "y = 1\n1 / 0")
    assert result.error
    assert "ZeroDivisionError: division by zero" in result.logs
    assert 'File "<cell>", line 2' in result.logs
    assert sandbox.run_cell(thread, "y").logs == "1\n"


def test_threads_have_separate_sessions(sandbox: Sessions) -> None:
    first, second = new_thread(), new_thread()
    sandbox.run_cell(first, "secret = 'first'")
    result = sandbox.run_cell(second, "secret")
    assert result.error and "NameError" in result.logs


def test_input_files_appear_and_written_files_come_back(sandbox: Sessions) -> None:
    thread = new_thread()
    data = InputFile("sales.csv", b"month,amount\njan,10\nfeb,32\n", key="file-sales")
    notes = InputFile("notes.txt", b"unchanged", key="file-notes")
    result = sandbox.run_cell(thread, (
        "import os, pandas as pd\n"
        "print(sorted(os.listdir('/mnt/data')), os.getcwd())\n"
        "df = pd.read_csv('/mnt/data/sales.csv')\n"
        "df['double'] = df.amount * 2\n"
        "df.to_csv('/mnt/data/doubled.csv', index=False)\n"
        "os.makedirs('/mnt/data/out', exist_ok=True)\n"
        "open('out/total.txt', 'w').write(str(df.amount.sum()))\n"
        "with open('sales.csv', 'a') as out:\n"
        "    out.write('mar,1\\n')\n"
    ), [data, notes])
    assert not result.error, result.logs
    assert result.logs == "['notes.txt', 'sales.csv'] /mnt/data\n"
    files = {f.name: f for f in result.files}
    assert set(files) == {"doubled.csv", "out/total.txt", "sales.csv"}
    assert files["doubled.csv"].data == b"month,amount,double\njan,10,20\nfeb,32,64\n"
    assert files["out/total.txt"].data == b"42"
    assert files["sales.csv"].data.endswith(b"mar,1\n")
    assert not any(f.is_image for f in result.files)
    # Files stay for the session's next calls; one already placed is not placed again.
    again = sandbox.run_cell(thread, "print(open('sales.csv').read().count('\\n'))", [data])
    assert again.logs == "4\n"
    assert again.files == []


def test_figures_and_saved_images_come_back_as_images(sandbox: Sessions) -> None:
    thread = new_thread()
    result = sandbox.run_cell(thread, (
        "import matplotlib.pyplot as plt\n"
        "plt.plot([1, 2, 3], [3, 1, 2])\n"
        "plt.title('trend')\n"
        "plt.savefig('/mnt/data/chart.png')\n"
        "plt.show()\n"
        "plt.figure()\n"
        "bars = plt.bar(['a', 'b'], [1, 2])\n"
    ))
    assert not result.error, result.logs
    assert result.logs == ""
    images = {f.name: f for f in result.files}
    assert set(images) == {"chart.png", "image-0.png", "image-1.png"}
    for image in images.values():
        assert image.is_image
        assert image.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert not images["chart.png"].figure and images["image-1.png"].figure
    # Figures shown once are not shown again by the next call.
    assert sandbox.run_cell(thread, "print('next')").files == []


def test_a_reaped_session_is_recreated_on_the_next_call(sandbox: Sessions) -> None:
    thread = new_thread()
    sandbox.run_cell(thread, "kept = 'yes'")
    assert sandbox.reap() == []
    assert sandbox.place(thread).name in sandbox.backend.running()
    idle = Sessions(sandbox.backend, sandbox.settings.model_copy(
        update={"sandbox_idle_seconds": 0}))
    assert idle.reap() == [thread]
    assert idle.place(thread).name not in idle.backend.running()
    assert not idle.place(thread).root.exists()
    result = sandbox.run_cell(thread, "print('back')\nkept")
    assert result.logs.startswith("back\n")
    assert "NameError" in result.logs


def test_a_session_older_than_the_maximum_is_replaced(tmp_path: Path, backend: str) -> None:
    thread = new_thread()
    with sessions_on(backend, tmp_path, sandbox_max_age_seconds=0) as sessions:
        sessions.run_cell(thread, "old = 1")
        assert "NameError" in sessions.run_cell(thread, "old").logs


def test_a_crashed_session_is_recreated(sandbox: Sessions) -> None:
    thread = new_thread()
    sandbox.run_cell(thread, "value = 7")
    crashed = sandbox.run_cell(thread, "import os\nos._exit(3)")
    assert crashed.error
    assert "restarted" in crashed.logs
    assert sandbox.run_cell(thread, "print('fresh')").logs == "fresh\n"
    # Killed from outside between calls: the next call starts a session without a word.
    sandbox.run_cell(thread, "value = 8")
    sandbox.backend.stop(sandbox.place(thread))
    result = sandbox.run_cell(thread, "print('again')")
    assert (result.logs, result.error) == ("again\n", False)


def test_another_worker_process_reaches_the_same_session(tmp_path: Path, backend: str) -> None:
    thread = new_thread()
    with sessions_on(backend, tmp_path) as one, sessions_on(backend, tmp_path) as other:
        one.run_cell(thread, "shared = [1, 2]")
        assert other.run_cell(thread, "shared.append(3)\nshared").logs == "[1, 2, 3]\n"


def test_an_input_file_that_cannot_be_placed_fails_the_call_only(sandbox: Sessions) -> None:
    thread = new_thread()
    sandbox.run_cell(thread, "kept = 5")
    result = sandbox.run_cell(thread, "print('never')", [InputFile("..", b"data")])
    assert result.error
    assert result.logs.startswith("The sandbox could not run this call: IsADirectoryError")
    assert sandbox.run_cell(thread, "kept").logs == "5\n"
