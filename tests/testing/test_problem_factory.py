"""Your own problem everywhere: problem_from_factory, a config's [problem] factory, firm run / firm sweep."""

from __future__ import annotations

import json
import textwrap

import pytest
import yaml
from click.testing import CliRunner

from firm.cli import main
from firm.experiments.config import ConfigError, load_config, validate_config
from firm.experiments.results import read_metrics
from firm_core.problems import Problem
from firm_core.problems.registry import factory_parameters, load_factory, problem_from_factory
from tests.testing.toy_problems import CauchyToy

#: A user's problem file: the toy of tests/testing/toy_problems.py behind a factory, with a switch
#: that breaks its client weights.
USER_FILE = textwrap.dedent('''
    import numpy as np
    from tests.testing.toy_problems import BrokenWeights, CauchyToy

    def make(num_clients=10, num_objectives=3, dim=4, noise_std=0.1, seed=0, broken=False):
        cls = BrokenWeights if broken else CauchyToy
        return cls(num_clients=num_clients, num_objectives=num_objectives, dim=dim, noise_std=noise_std, seed=seed)

    def needs_dim(dim):
        return CauchyToy(dim=dim)

    def not_a_problem():
        return 42

    def crashes(num_clients=3):
        raise ValueError(f"`num_clients` must be even, got {num_clients}")

    NOT_CALLABLE = 3
''')


@pytest.fixture
def user_file(tmp_path, monkeypatch):
    path = tmp_path / "problems" / "my_problem.py"
    path.parent.mkdir()
    path.write_text(USER_FILE)
    monkeypatch.chdir(tmp_path)
    return path


def tiny(problem: dict, rounds: int = 3) -> dict:
    return {
        "name": "mine",
        "problem": problem,
        "run": {"rounds": rounds, "seed": 1, "checkpoint_every": 1},
        "defaults": {"local_steps": 2, "lr": 0.05},
        "algorithms": [{"name": "firm", "beta": 1.0}, {"name": "fedavg_ls"}],
        "sweep": {"points": 3},
    }


def test_factory_from_a_file_and_from_a_module(user_file):
    p = problem_from_factory("problems/my_problem.py:make", num_clients=6, seed=2)
    assert isinstance(p, Problem) and p.num_clients == 6 and p.num_objectives == 3
    q = problem_from_factory(f"{user_file}:make", num_clients=6, seed=2)  # absolute path: same problem
    assert (p.centers == q.centers).all()
    r = problem_from_factory("tests.testing.toy_problems:CauchyToy", num_clients=6, seed=2)
    assert isinstance(r, CauchyToy) and (r.centers == p.centers).all()
    assert set(factory_parameters("problems/my_problem.py:make")) == {"num_clients", "num_objectives", "dim",
                                                                     "noise_std", "seed", "broken"}


@pytest.mark.parametrize(
    "spec, kwargs, error, message",
    [
        ("my_problem", {}, ValueError, "must look like 'module:callable' or 'path/to/file.py:callable'"),
        ("problems/nope.py:make", {}, ValueError, r"'problems/nope.py:make': file '.*nope.py' not found"),
        ("no_such_module_xyz:make", {}, ValueError, "module 'no_such_module_xyz' cannot be imported"),
        ("problems/my_problem.py:mkae", {}, ValueError, r"has no attribute 'mkae'; callables there: \[.*'make'"),
        ("problems/my_problem.py:NOT_CALLABLE", {}, ValueError, "'NOT_CALLABLE' is a int, not a callable"),
        ("problems/my_problem.py:make", {"num_clinets": 3}, ValueError, r"unknown argument\(s\) \['num_clinets'\]"),
        ("problems/my_problem.py:needs_dim", {}, ValueError, r"missing required argument\(s\) \['dim'\]"),
        ("problems/my_problem.py:crashes", {}, ValueError, "raised ValueError: `num_clients` must be even, got 3"),
        ("problems/my_problem.py:not_a_problem", {}, TypeError, "returned int, not a firm_core.problems.Problem"),
    ],
)
def test_factory_errors_name_the_factory_and_what_is_wrong(user_file, spec, kwargs, error, message):
    with pytest.raises(error, match=message) as info:
        problem_from_factory(spec, **kwargs)
    if spec != "my_problem":
        assert repr(spec) in str(info.value)


def test_a_file_that_fails_to_run_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.py").write_text("import numpy as np\ndef make(:\n")
    with pytest.raises(ValueError, match=r"'bad.py:make': running '.*bad.py' raised SyntaxError"):
        load_factory("bad.py:make")
    with pytest.raises(TypeError, match="must be a string"):
        load_factory(42)


def test_config_with_a_factory_builds_the_problem_and_saves_an_absolute_path(user_file):
    cfg = validate_config(tiny({"factory": "problems/my_problem.py:make", "num_clients": 5, "dim": 3}))
    assert cfg.problem.num_clients == 5 and cfg.problem.dim == 3
    assert cfg.problem_kwargs == {"num_clients": 5, "dim": 3}
    assert cfg.raw["problem"]["factory"] == f"{user_file.resolve()}:make"


@pytest.mark.parametrize(
    "table, path, message",
    [
        ({"factory": "problems/my_problem.py:make", "num_clinets": 5}, "problem.num_clinets", "is not a known field"),
        ({"factory": "problems/my_problem.py:make", "name": "quadratics"}, "problem.name", "cannot be given with `factory`"),
        ({"factory": "problems/my_problem.py:make", "check": "yes"}, "problem.check", "must be true or false"),
        ({"factory": "problems/missing.py:make"}, "problem.factory", "missing.py' not found"),
        ({"factory": "problems/my_problem.py:crashes", "num_clients": 3}, "problem.num_clients", "must be even, got 3"),
        ({"factory": 7}, "problem.factory", "must be a string"),
        ({"num_clients": 3}, "problem.name", "or give `factory`"),
    ],
)
def test_config_errors_name_the_field(user_file, table, path, message):
    with pytest.raises(ConfigError, match=message) as info:
        validate_config(tiny(table))
    assert info.value.path == path, str(info.value)


def test_config_runs_check_problem_on_a_factory_problem(user_file):
    with pytest.raises(ConfigError, match=r"problem.factory 'problems/my_problem.py:make' builds a problem that fails "
                                          r"check_problem: client_weights: sum to 1.1.*set check = false"):
        validate_config(tiny({"factory": "problems/my_problem.py:make", "broken": True}))
    cfg = validate_config(tiny({"factory": "problems/my_problem.py:make", "broken": True, "check": False}))
    assert cfg.problem.client_weights.sum() == pytest.approx(1.1)


@pytest.mark.slow
def test_firm_run_and_sweep_on_your_own_problem_and_resume_from_elsewhere(user_file, tmp_path, monkeypatch):
    cfg = tmp_path / "mine.yaml"
    cfg.write_text(yaml.safe_dump(tiny({"factory": "problems/my_problem.py:make", "num_clients": 4, "seed": 3})))
    runner = CliRunner()
    out = runner.invoke(main, ["run", "--config", str(cfg), "--out", str(tmp_path / "run"), "--quiet"])
    assert out.exit_code == 0, out.output
    metrics = read_metrics(tmp_path / "run")
    assert metrics["problem"]["name"] == "cauchy_toy(N=4, M=3, d=4)"
    assert {r["status"] for r in metrics["algorithms"].values()} == {"done"}
    assert metrics["pareto_front"] is None  # the toy has no analytic front: plots and summary still work
    assert (tmp_path / "run" / "front.png").is_file()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the saved config holds the absolute path of the problem file
    again = runner.invoke(main, ["run", "--resume", str(tmp_path / "run"), "--quiet"])
    assert again.exit_code == 0, again.output

    monkeypatch.chdir(tmp_path)
    sweep = runner.invoke(main, ["sweep", "--config", str(cfg), "--out", str(tmp_path / "sweep"), "--quiet"])
    assert sweep.exit_code == 0, sweep.output
    data = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    n = len(data["preferences"])  # M = 3: the coarsest simplex lattice with >= 3 points (6)
    assert data["problem"]["num_objectives"] == 3 and n >= 3
    assert all(len(a["points"]) == n and a["hypervolume"] is None for a in data["algorithms"].values())


def test_cli_reports_a_bad_factory_in_one_line(user_file, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(tiny({"factory": "problems/my_problem.py:mkae"})))
    out = CliRunner().invoke(main, ["run", "--config", str(cfg), "--out", str(tmp_path / "x")])
    assert out.exit_code == 2
    error_lines = [line for line in out.output.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1 and "problem.factory" in error_lines[0] and "'mkae'" in error_lines[0]
    assert "Traceback" not in out.output


def test_load_config_reads_a_toml_factory_table(user_file, tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[problem]\nfactory = "problems/my_problem.py:make"\nnum_clients = 3\n\n'
                    '[[algorithms]]\nname = "firm"\n')
    assert load_config(path).problem.num_clients == 3


def test_a_file_runs_once_until_it_changes(tmp_path, monkeypatch):
    import os

    monkeypatch.chdir(tmp_path)
    source = ("import pathlib\nlog = pathlib.Path('runs.log')\nlog.write_text(log.read_text() + 'x' if log.exists() else 'x')\n"
              "from tests.testing.toy_problems import CauchyToy\nVERSION = {v}\n")
    (tmp_path / "counted.py").write_text(source.format(v=1))
    problem_from_factory("counted.py:CauchyToy")
    problem_from_factory("counted.py:CauchyToy", dim=2)
    assert (tmp_path / "runs.log").read_text() == "x"
    (tmp_path / "counted.py").write_text(source.format(v=2))
    stat = (tmp_path / "counted.py").stat()
    os.utime(tmp_path / "counted.py", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert load_factory("counted.py:CauchyToy").__module__ == "tests.testing.toy_problems"
    assert (tmp_path / "runs.log").read_text() == "xx"
