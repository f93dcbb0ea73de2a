"""`treadle up` prepares bubblewrap's sandbox in the background only when it is the one to
use, is not ready, and this host can prepare it."""
import os
import shutil
from pathlib import Path

import pytest

from shared.cli import _sandbox_preparation
from shared.config import Settings

CAN_PREPARE = os.geteuid() == 0 and shutil.which("apt-get") is not None


def test_nothing_to_prepare_for_docker(tmp_path: Path) -> None:
    missing = tmp_path / "no-rootfs"
    assert _sandbox_preparation(Settings(sandbox="docker", sandbox_rootfs=missing)) == []
    assert _sandbox_preparation(Settings(sandbox_docker_host="unix:///run/d.sock",
                                         sandbox_rootfs=missing)) == []


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed here")
def test_nothing_to_prepare_when_bubblewrap_is_ready(tmp_path: Path) -> None:
    assert _sandbox_preparation(Settings(sandbox="bwrap", sandbox_docker_host=None,
                                         sandbox_rootfs=tmp_path)) == []


def test_a_missing_root_is_prepared_in_the_background_or_explained(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    programs = _sandbox_preparation(Settings(sandbox="bwrap", sandbox_docker_host=None,
                                             sandbox_rootfs=tmp_path / "no"))
    said = capsys.readouterr().out
    if CAN_PREPARE:
        assert [p.name for p in programs] == ["sandbox-prepare"]
        assert programs[0].once and programs[0].command[-1] == "--bwrap-only"
        assert "in the background" in said
    else:
        assert programs == [] and "sudo make sandbox" in said
