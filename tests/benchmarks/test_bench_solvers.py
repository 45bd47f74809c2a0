"""benchmarks/bench_solvers.py --against REF: another commit's firm_core imported side by side."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import firm_core as fc

ROOT = Path(__file__).resolve().parents[2]
needs_git = pytest.mark.skipif(
    shutil.which("git") is None
    or subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True).returncode != 0,
    reason="needs git and a repository (a source tree without .git cannot name a commit)",
)


def bench_module():
    spec = importlib.util.spec_from_file_location("bench_solvers", ROOT / "benchmarks" / "bench_solvers.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@needs_git
def test_reference_is_the_committed_package_imported_next_to_the_working_tree(monkeypatch):
    bench = bench_module()
    monkeypatch.setattr(sys, "path", list(sys.path))
    ref = bench.load_reference("HEAD")
    try:
        assert ref.__name__ == "firm_core_ref" and ref is not fc
        assert Path(ref.__file__).parent.name == "firm_core_ref" and not Path(ref.__file__).is_relative_to(ROOT)
        jac = np.random.default_rng(0).standard_normal((4, 7))
        mine, theirs = fc.solve_min_norm(jac, beta=0.1), ref.solve_min_norm(jac, beta=0.1)
        assert type(theirs).__module__.startswith("firm_core_ref.")  # its own classes, not ours
        np.testing.assert_allclose(theirs.weights, mine.weights, rtol=0, atol=1e-12)
    finally:
        for name in [n for n in sys.modules if n == "firm_core_ref" or n.startswith("firm_core_ref.")]:
            del sys.modules[name]


@needs_git
def test_an_unknown_reference_exits_with_the_reason():
    with pytest.raises(SystemExit) as err:
        bench_module().load_reference("no-such-commit-xyz")
    assert "--against 'no-such-commit-xyz'" in str(err.value) and "git archive failed" in str(err.value)


def test_the_table_compares_each_cell_with_the_reference():
    bench = bench_module()
    row = dict(family="gaussian", M=3, d=10, beta=0.1, auto=20.0, lo=19.0, hi=25.0, batched=15.0, cvxpy=5000.0,
               kkt=1e-16, method="active_set", ref=25.0, ratio=0.8)
    text = bench.fmt_small([row, {**row, "M": 10, "auto": 45.0, "ratio": 0.9}], "abc123")
    assert "| abc123 us/call | this / abc123 |" in text and "| 25.0 | 0.80 |" in text
    assert "1 of 2 cells meet the 40 us target" in text and "0.80-0.90, median 0.85" in text
    assert "abc123" not in bench.fmt_small([row])  # no reference, no columns
