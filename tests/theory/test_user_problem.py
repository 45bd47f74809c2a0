"""`firm check-theory --problem FILE`: Theorem 1 and the federated bound on a user's own problem."""

import json
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner
from firm.cli import main

from theory_checks.user_constants import ESTIMATE_SAFETY, estimate_constants

#: A small nonconvex two-objective problem: f_{i,m}(x) = sum_k log(1 + (x_k - c_{i,m,k})^2). Its constants are
#: known globally: every second derivative lies in [-1/4, 2] (L = L_phi = 2), every gradient coordinate in
#: [-1, 1] (C = sqrt(d), zeta = 2 sqrt(d)), and Phi >= 0 (Delta <= Phi(x_0)).
PROBLEM_PY = textwrap.dedent('''
    import numpy as np
    from firm_core.problems import Problem

    class CauchyPair(Problem):
        def __init__(self, num_clients=3, num_objectives=2, dim=3, seed=0, broken=False, noise_std=0.0, linear=False):
            rng = np.random.default_rng(seed)
            self.name = "cauchy_pair"
            self.num_clients, self.num_objectives, self.dim = num_clients, num_objectives, dim
            self.client_weights = rng.dirichlet(np.ones(num_clients))
            self.centers = rng.normal(size=(num_clients, num_objectives, dim))
            self.broken, self.noise_std, self.linear = broken, noise_std, linear

        def initial_point(self):
            return np.full(self.dim, 2.0)

        def client_values(self, clients, x):
            if self.linear:
                return np.einsum("nmd,nd->nm", self.centers[clients], x)
            return np.log1p((x[:, None, :] - self.centers[clients]) ** 2).sum(axis=-1)

        def client_jacobians(self, clients, x):
            if self.linear:
                return self.centers[clients].copy()
            r = x[:, None, :] - self.centers[clients]
            return (3.0 if self.broken else 2.0) * r / (1 + r**2)   # broken: not the gradient of the values
''')
DIM = 3
TRUE_L = 2.0
#: The estimates are maxima over samples, so estimate / ESTIMATE_SAFETY never exceeds the true constant
#: (up to the central-difference error, far below this relative slack).
FD_RTOL = 1e-4


def _write(tmp_path, body: str, name: str = "check.toml"):
    (tmp_path / "cauchy_pair.py").write_text(PROBLEM_PY)
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def _invoke(path, out):
    return CliRunner().invoke(main, ["check-theory", "--problem", str(path), "--out", str(out)])


def _factory(tmp_path) -> str:
    return f'factory = "{tmp_path / "cauchy_pair.py"}:CauchyPair"'


def test_user_problem_passes_with_estimated_constants(tmp_path):
    path = _write(tmp_path, f"""
        [problem]
        {_factory(tmp_path)}
        seed = 1
        [check]
        rounds = 60
    """)
    result = _invoke(path, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "PASS: holds with estimated constants" in result.output
    report = (tmp_path / "out" / "report.md").read_text()
    assert "estimated, not certified" in report and "stated by the user" not in report
    assert report.count("**Verdict: holds with estimated constants.**") == 2
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["ok"] and res["theorem1"]["applicable"]
    assert {c["source"] for c in res["constants"].values()} == {"estimated, not certified"}
    # the estimates are lower estimates times the safety factor: below the true constants once divided by it
    consts = {k: v["value"] for k, v in res["constants"].items()}
    assert TRUE_L / 2 <= consts["L"] / ESTIMATE_SAFETY <= TRUE_L * (1 + FD_RTOL)
    assert consts["L_phi"] <= consts["L"] and consts["C"] / ESTIMATE_SAFETY <= np.sqrt(DIM) * (1 + FD_RTOL)
    assert consts["sigma"] == 0.0
    for key in ("theorem1", "federated"):
        assert res[key]["measured"] <= res[key]["bound"]
        assert res[key]["informative"] == (res[key]["bound"] < min(consts["C"] ** 2, res[key]["phi0"]))


def test_noisy_problem_estimates_sigma_and_checks_over_seeds(tmp_path):
    noise = 0.2
    path = _write(tmp_path, f"""
        [problem]
        {_factory(tmp_path)}
        noise_std = {noise}
        [check]
        rounds = 20
        K = 2
        seeds = 3
        samples = 8
    """)
    result = _invoke(path, tmp_path / "out")
    assert result.exit_code == 0, result.output
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    # E||xi||^2 = sigma^2 exactly for the default Gaussian noise; the estimate is a maximum of sample means
    assert noise * 0.8 <= res["constants"]["sigma"]["value"] / ESTIMATE_SAFETY <= noise * 1.5
    assert res["federated"]["seeds"] == 3
    assert any(c["name"].startswith("sigma^2 >=") and c["ok"] for c in res["checks"])


def test_stated_global_constants_are_reported_as_stated(tmp_path):
    path = _write(tmp_path, f"""
        [problem]
        {_factory(tmp_path)}
        seed = 1
        [constants]
        L = 2.0
        L_phi = 2.0
        C = {np.sqrt(DIM)}
        zeta = {2 * np.sqrt(DIM)}
        sigma = 0.0
        delta = 40.0
        [check]
        rounds = 60
        K = 2
    """)
    result = _invoke(path, tmp_path / "out")
    assert result.exit_code == 0, result.output
    report = (tmp_path / "out" / "report.md").read_text()
    assert "holds with the stated constants" in report and "estimated, not certified |" not in report
    assert "every iterate in the ball" not in report  # no constant was estimated: no ball is involved
    assert "Every constant is stated by the user" in report


@pytest.mark.parametrize(("constant", "value", "violated"), [
    ("delta", 1e-6, "Theorem 1"),
    ("C", 0.05, "C >= every ||grad f_{i,m}|| met"),
    ("zeta", 1e-3, "zeta >= every"),
    ("L_phi", 0.5, "L_phi >= every difference quotient"),
])
def test_stated_constants_too_small_are_violations(tmp_path, constant, value, violated):
    path = _write(tmp_path, f"""
        [problem]
        {_factory(tmp_path)}
        seed = 1
        [constants]
        {constant} = {value}
        [check]
        rounds = 40
        K = 2
        samples = 8
    """)
    result = _invoke(path, tmp_path / "out")
    assert result.exit_code == 1, result.output
    assert any(line.startswith("VIOLATION") and violated in line for line in result.output.splitlines()), result.output
    report = (tmp_path / "out" / "report.md").read_text()
    assert "VIOLATED" in report and f"| {constant} | {value:.4g} | stated by the user |" in report
    assert "| C |" in report and "estimated, not certified" in report  # the others are estimated


def test_federated_bound_with_too_small_constants_is_a_violation(tmp_path):
    # delta far too small and a claimed homogeneous problem (zeta = 0): the federated a-priori bound falls below the run
    path = _write(tmp_path, f"""
        [problem]
        {_factory(tmp_path)}
        seed = 1
        [constants]
        delta = 1e-6
        zeta = 0.0
        [check]
        rounds = 40
        K = 2
        samples = 8
    """)
    result = _invoke(path, tmp_path / "out")
    assert result.exit_code == 1, result.output
    assert any(line.startswith("VIOLATION federated: mean phi <= min(B1, B2, B3, B4)") for line in result.output.splitlines()), result.output
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["federated"]["measured"] > res["federated"]["bound"] and res["federated"]["verdict"] == "VIOLATED"


def test_builtin_problem_by_name(tmp_path):
    path = _write(tmp_path, """
        problem:
          name: quadratics
          num_clients: 3
          num_objectives: 2
          dim: 4
        check:
          rounds: 40
          K: 2
          samples: 8
    """, name="check.yaml")
    result = _invoke(path, tmp_path / "out")
    assert result.exit_code == 0, result.output
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["problem"] == "quadratics" and res["ok"]


def test_estimated_smoothness_of_a_quadratic_is_below_the_exact_one():
    from firm_core.problems import make_problem

    problem = make_problem("quadratics", num_clients=3, num_objectives=2, dim=4)
    p = np.full(2, 0.5)
    exact = problem.smoothness(p)
    est = estimate_constants(problem, p, radius=1.0, samples=8)
    # a constant Hessian: power iteration finds its top eigenvalue, central differences are exact up to round-off
    assert est["L"] / ESTIMATE_SAFETY == pytest.approx(exact.L, rel=0.05)
    assert est["L_phi"] / ESTIMATE_SAFETY <= exact.L_phi * (1 + FD_RTOL)
    assert est["L_phi"] / ESTIMATE_SAFETY >= 0.5 * exact.L_phi


@pytest.mark.parametrize(("body", "names"), [
    ("[problem]\nFACTORY\n[constants]\nLphi = 1.0\n", "constants.Lphi"),
    ("[problem]\nFACTORY\n[constants]\nC = -1.0\n", "constants.C"),
    ("[problem]\nFACTORY\n[constants]\nL = 0\n", "constants.L"),
    ("[problem]\nFACTORY\n[constants]\nL = 1.0\nL_phi = 2.0\n", "constants.L_phi"),
    ("[problem]\nFACTORY\n[check]\nrounds = 0\n", "check.rounds"),
    ("[problem]\nFACTORY\n[check]\nstep = 0.1\n", "check.step"),
    ("[problem]\nFACTORY\n[extra]\na = 1\n", "extra"),
    ("[problem]\nFACTORY\nbroken = true\n", "problem.factory"),
    ("[problem]\nname = \"no_such_problem\"\n", "problem.name"),
    ("[problem\nbroken", "not valid TOML"),
    ("[check]\nrounds = 3\n", "problem is required"),
    ("[problem]\nFACTORY\nlinear = true\n", "constants.L_phi"),
])
def test_bad_inputs_are_one_line_errors_naming_the_key(tmp_path, body, names):
    path = _write(tmp_path, body.replace("FACTORY", _factory(tmp_path)))
    result = _invoke(path, tmp_path / "out")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("Error: --problem") and names in lines[-1], result.output
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


def test_quick_with_problem_is_an_error(tmp_path):
    path = _write(tmp_path, f"[problem]\n{_factory(tmp_path)}\n")
    result = CliRunner().invoke(main, ["check-theory", "--problem", str(path), "--quick", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "--quick" in result.output
