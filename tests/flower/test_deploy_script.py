"""scripts/flower_deploy.sh refuses bad usage before it starts anything (the full deployment runs in
test_simulation.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "flower_deploy.sh"


@pytest.mark.parametrize(("args", "needle"), [
    (["-n", "0"], "-n must be an integer >= 1, got '0'"),
    (["-r", "x"], "-r must be an integer >= 1, got 'x'"),
    (["-g", "0,x"], "-g must be GPU ids such as 0,1, got '0,x'"),
    (["-g", "1,,2"], "-g must be GPU ids"),
    (["-b", "torch"], "-b must be numpy or rlhf, got 'torch'"),
])
def test_bad_usage_exits_2_naming_the_flag(tmp_path, args, needle):
    proc = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path)})
    assert proc.returncode == 2 and needle in proc.stderr, proc.stderr
    assert list(tmp_path.iterdir()) == []  # nothing was started: no work folder


def test_help_lists_the_gpu_flag():
    proc = subprocess.run([str(SCRIPT), "-h"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "-g GPU_IDS" in proc.stdout and "-b BACKEND" in proc.stdout
