"""The one loader of users' Python files (problem factories and reward functions use it)."""

from __future__ import annotations

import os
import pickle
import sys

import pytest

from firm_core.user_code import run_python_file


def test_a_file_runs_once_until_it_changes(tmp_path):
    f = tmp_path / "plug.py"
    f.write_text("import dataclasses\nCALLS = []\nCALLS.append(1)\n@dataclasses.dataclass\nclass P:\n    a: int = 1\n")
    first = run_python_file(f, prefix="_t", what="plug")
    assert run_python_file(f, prefix="_t", what="plug") is first and first.CALLS == [1]
    assert first.__name__ in sys.modules and pickle.loads(pickle.dumps(first.P(3))).a == 3  # registered
    f.write_text("VALUE = 2\n")
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # a later modification time
    second = run_python_file(f, prefix="_t", what="plug")
    assert second is not first and second.VALUE == 2


def test_errors_name_what_was_being_loaded(tmp_path):
    with pytest.raises(ValueError, match=r"^problem factory 'x.py:f': file .*x.py' not found"):
        run_python_file(tmp_path / "x.py", prefix="_t", what="problem factory 'x.py:f'")
    bad = tmp_path / "bad.py"
    bad.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ValueError, match=r"^--reward 'bad.py:f': running .*bad.py' raised RuntimeError: boom"):
        run_python_file(bad, prefix="_t", what="--reward 'bad.py:f'")
    assert not any(name.startswith("_t_bad_") for name in sys.modules)  # a failed file leaves no module behind
