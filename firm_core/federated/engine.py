"""Run one federated algorithm on a problem for T rounds, with metrics, checkpoints and exact resume.

    history = run(problem, AlgorithmConfig(name="firm", beta=1.0), RunConfig(rounds=100))

Checkpoints (every ``checkpoint_every`` rounds and at the end, when ``checkpoint_dir`` is given):
``state.npz`` (round, x, seed, server_lambda: exact float64) and ``checkpoint.json`` (configs, problem
description, history so far). ``run(..., resume_from=dir)`` continues from there; because all
randomness derives from (seed, round, client), the resumed run's records and iterates are identical,
bit for bit, to an uninterrupted run (wall times aside).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .algorithms import FederatedState, make_algorithm
from .config import AlgorithmConfig, RunConfig
from .history import History, RoundRecord, json_safe
from .metrics import evaluate_point

STATE_FILE = "state.npz"
CHECKPOINT_FILE = "checkpoint.json"

#: Called after every round with (the round's record, the run's total rounds); the application layer
#: turns it into a progress bar. The core draws nothing itself.
ProgressHook = Callable[[RoundRecord, int], None]


def _check_progress(progress, where: str) -> ProgressHook | None:
    if progress is None or progress is False:
        return None
    if progress is True:
        raise TypeError(
            f"{where}: `progress` must be a callable hook(record, total_rounds) or None, got True "
            "(the core draws no progress bar; the `firm` application passes one)"
        )
    if not callable(progress):
        raise TypeError(f"{where}: `progress` must be a callable hook(record, total_rounds) or None, got {progress!r}")
    return progress


def run(
    problem,
    algorithm_config: AlgorithmConfig,
    run_config: RunConfig | None = None,
    *,
    x0=None,
    progress: ProgressHook | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    resume_from: str | os.PathLike | None = None,
) -> History:
    """Run ``algorithm_config`` on ``problem`` for ``run_config.rounds`` rounds; return the History.

    Record t holds phi, F and dist_pareto of x_t (the round's start) and the round's D_lambda, D_x,
    communication and wall time; ``history.final_point`` holds the metrics of x_T and x_T itself.
    ``progress``: None, or a hook called after every round with (record, total rounds).
    ``resume_from``: a checkpoint folder written by an earlier run of the same algorithm config and
    problem; the run continues from its round up to ``run_config.rounds``.
    """
    if not isinstance(algorithm_config, AlgorithmConfig):
        raise TypeError(f"run: `algorithm_config` must be an AlgorithmConfig, got {type(algorithm_config).__name__}")
    run_config = RunConfig() if run_config is None else run_config
    if not isinstance(run_config, RunConfig):
        raise TypeError(f"run: `run_config` must be a RunConfig, got {type(run_config).__name__}")
    hook = _check_progress(progress, "run")
    algo = make_algorithm(algorithm_config)
    metadata = {
        "algorithm": algorithm_config.name,
        "display_name": algorithm_config.display_name,
        "config": algorithm_config.to_dict(),
        "run_config": run_config.to_dict(),
        "problem": problem.describe(),
        "seed": algorithm_config.seed,
        "firm_version": _firm_version(),
    }
    if resume_from is not None:
        if x0 is not None:
            raise ValueError("run: pass either `x0` or `resume_from`, not both (the checkpoint holds x_t)")
        state, history = load_checkpoint(resume_from, algorithm_config, problem)
        algorithm_config.check_problem(problem)
        if state.round > run_config.rounds:
            raise ValueError(
                f"run: `run_config.rounds` ({run_config.rounds}) is below the checkpoint's round {state.round}"
            )
        history.metadata.update(metadata)
        history.final_point = None
    else:
        state = algo.init(problem, x0)
        history = History(metadata=metadata)

    total = run_config.rounds
    while state.round < total:
        t = state.round
        state, record = algo.round(problem, state, evaluate=t % run_config.eval_every == 0)
        history.append(record)
        if hook is not None:
            hook(record, total)
        every = run_config.checkpoint_every
        if checkpoint_dir is not None and every is not None and state.round % every == 0 and state.round < total:
            save_checkpoint(checkpoint_dir, state, history, algorithm_config, run_config)
    final = evaluate_point(problem, state.x)
    history.final_point = {
        "round": int(state.round),
        "phi": final["phi"],
        "objectives": [float(v) for v in final["objectives"]],
        "dist_pareto": final["dist_pareto"],
        "x": [float(v) for v in state.x],
    }
    if checkpoint_dir is not None:
        save_checkpoint(checkpoint_dir, state, history, algorithm_config, run_config)
    return history


def _firm_version() -> str:
    import firm_core  # at call time: firm_core/__init__ may import this package

    return str(getattr(firm_core, "__version__", ""))


def save_checkpoint(directory, state: FederatedState, history: History, algorithm_config, run_config) -> None:
    """Write ``state.npz`` and ``checkpoint.json`` into ``directory`` (each replaced atomically)."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path, suffix=".npz")
    os.close(fd)
    np.savez(tmp, round=np.int64(state.round), x=state.x, seed=np.int64(state.seed), server_lambda=state.server_lambda)
    os.replace(tmp, path / STATE_FILE)
    payload = {
        "round": int(state.round),
        "algorithm_config": algorithm_config.to_dict(),
        "run_config": run_config.to_dict(),
        "history": history.to_dict(),
    }
    fd, tmp = tempfile.mkstemp(dir=path, suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(json_safe(payload), fh, allow_nan=False)
    os.replace(tmp, path / CHECKPOINT_FILE)


def load_checkpoint(directory, algorithm_config: AlgorithmConfig | None = None, problem=None):
    """(state, history) from a checkpoint folder. With ``algorithm_config`` / ``problem`` given, a
    checkpoint of another config or problem is refused with a ValueError naming the differing fields."""
    path = Path(directory)
    for name in (STATE_FILE, CHECKPOINT_FILE):
        if not (path / name).is_file():
            raise ValueError(f"load_checkpoint: `directory` {str(path)!r} holds no {name}")
    with open(path / CHECKPOINT_FILE, encoding="utf-8") as fh:
        payload = json.load(fh)
    with np.load(path / STATE_FILE) as npz:
        state = FederatedState(
            int(npz["round"]), np.array(npz["x"], dtype=np.float64), int(npz["seed"]),
            np.array(npz["server_lambda"], dtype=np.float64),
        )
    if state.round != payload["round"]:
        raise ValueError(f"load_checkpoint: state.npz is at round {state.round} but checkpoint.json at {payload['round']}")
    if algorithm_config is not None:
        saved = AlgorithmConfig.from_dict(payload["algorithm_config"]).to_dict()
        diff = sorted(k for k, v in algorithm_config.to_dict().items() if saved.get(k) != v)
        if diff:
            raise ValueError(
                f"load_checkpoint: the checkpoint was written with another algorithm config; differing fields "
                + ", ".join(f"`{k}` (saved {saved.get(k)!r}, given {algorithm_config.to_dict()[k]!r})" for k in diff)
            )
    history = History.from_dict(payload["history"])
    if problem is not None:
        saved_problem = history.metadata.get("problem")
        given = json.loads(json.dumps(json_safe(problem.describe())))
        if saved_problem is not None and saved_problem != given:
            diff = sorted(k for k in set(saved_problem) | set(given) if saved_problem.get(k) != given.get(k))
            raise ValueError(f"load_checkpoint: the checkpoint was written for another problem; differing fields {diff}")
        if state.x.shape != (int(problem.dim),):
            raise ValueError(f"load_checkpoint: checkpoint x has shape {state.x.shape}, the problem has d = {problem.dim}")
    if len(history) != state.round:
        raise ValueError(f"load_checkpoint: history has {len(history)} records but the state is at round {state.round}")
    return state, history


def run_many(problem, algorithm_configs, run_config: RunConfig | None = None, *, x0=None,
             progress: ProgressHook | None = None):
    """Run several algorithm configs from the same x_0; {display_name: History} in the given order.
    Display names must be distinct (set ``label`` to tell two configs of one algorithm apart)."""
    configs = list(algorithm_configs)
    names = [c.display_name for c in configs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"run_many: `algorithm_configs` have duplicate display names {dupes}; set `label`")
    out = {}
    for cfg in configs:
        out[cfg.display_name] = run(problem, cfg, run_config, x0=x0, progress=progress)
    return out
