"""Seeded runs whose outputs are frozen as golden files (``tests/golden/*.json``).

They were recorded before the code was reorganized, and the tests in ``test_golden.py`` check that
the current code reproduces them. Recording again (``python -m tests.golden.compute --force``) is only
right when a behaviour change is intended, and the commit must say which.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent

#: every algorithm of the engine, on two problems, full participation (sampling is not frozen here)
ENGINE_ALGORITHMS = ("firm", "local_mgda", "fedavg_ls", "fmgda", "fsmgda", "fedcmoo")


def _problems():
    from firm_core.problems import make_problem

    return {
        "quadratics": make_problem("quadratics", num_clients=5, num_objectives=3, dim=4, heterogeneity=1.0,
                                   noise_std=0.1, seed=3, client_weights=[0.4, 0.3, 0.1, 0.1, 0.1]),
        "fonseca_fleming": make_problem("fonseca_fleming", num_clients=4, dim=3, heterogeneity=0.5, noise_std=0.05, seed=1),
    }


def _algorithm_config(name: str, m: int):
    from firm_core.federated import AlgorithmConfig

    extra = {"beta": 0.7} if name in ("firm", "fedcmoo") else {}
    if name == "fedcmoo":
        extra["sketch_rank"] = 1
        extra["fedcmoo_variant"] = "exact_lambda"  # the variant these runs were recorded with
    return AlgorithmConfig(name=name, local_steps=3, lr=0.05, seed=11, **extra)


def engine_runs() -> dict:
    from firm_core.federated import RunConfig, run

    out = {}
    for pname, problem in _problems().items():
        for name in ENGINE_ALGORITHMS:
            h = run(problem, _algorithm_config(name, problem.num_objectives), RunConfig(rounds=4), progress=False)
            out[f"{pname}/{name}"] = {
                "final_x": h.final_point["x"],
                "phi": [r.phi for r in h.records],
                "objectives": [list(r.objectives) for r in h.records],
                "lambda_mean": [list(r.lambda_mean) for r in h.records],
                "d_lambda": [r.d_lambda for r in h.records],
                "d_x": [r.d_x for r in h.records],
                "uplink_floats": [r.uplink_floats for r in h.records],
            }
    return out


def theory_trace() -> dict:
    from firm_core.problems import make_problem
    from theory_checks.trace import run_traced

    problem = make_problem("quadratics", num_clients=3, num_objectives=2, dim=3, heterogeneity=0.8, noise_std=0.05, seed=2)
    tr = run_traced(problem, beta=0.5, eta=0.1, eta_g=1.0, local_steps=2, rounds=5, seed=4)
    return {"x": tr.x.tolist(), "lam": tr.lam.tolist(), "phi": tr.phi.tolist()}


def flower_inprocess() -> dict:
    from tests.flower.helpers import make_settings, run_inprocess

    run, _ = run_inprocess(make_settings(num_clients=4, rounds=3))
    h = run.history
    return {"final_x": h.final_point["x"], "phi": [r.phi for r in h.records],
            "lambda_mean": [list(r.lambda_mean) for r in h.records]}


def tiny_rlhf() -> dict:
    """FIRM on the tiny LoRA RLHF task through the federated engine (recorded with the RLHF backend's
    own loop before that loop was replaced by the engine)."""
    import torch

    torch.set_num_threads(1)
    from backends.rlhf.experiment import run_task
    from backends.rlhf.policy import attach_lora, load_base
    from backends.rlhf.prompts import client_prompt_pools
    from backends.rlhf.rewards import BrevityReward, SentimentReward
    from backends.rlhf.task import RLHFTask
    from backends.rlhf.trainer import RLHFConfig
    from firm_core.federated import AlgorithmConfig

    base, tok = load_base("tiny")
    model = attach_lora(base, seed=0)
    # the settings of the recording: beta relative to tr(Q)/M, a fixed KL coefficient of 0.05
    local = RLHFConfig(group_size=4, prompts_per_step=2, max_new_tokens=8, beta_relative=True, kl_coef=0.05)
    task = RLHFTask(model, tok, [SentimentReward(), BrevityReward()], client_prompt_pools(2, 0.8, 5), local,
                    eval_samples=2, seed=5)
    algo = AlgorithmConfig(name="firm", beta=0.5, preference=(0.5, 0.5), lr=1e-2, local_steps=1, seed=5)
    history, rows = run_task(task, algo, 2)
    vec = torch.as_tensor(history.final_point["x"]).float().double()  # the adapter is float32
    names = task.objective_names
    return {"final_adapter": [float(v) for v in vec],
            "rewards": [[r[f"train_reward_{n}"] for n in names] for r in rows],
            "client_weights": [r["client_lambdas"] for r in rows], "kl": [r["train_kl"] for r in rows]}


CASES = {"engine": engine_runs, "theory_trace": theory_trace, "flower_inprocess": flower_inprocess, "tiny_rlhf": tiny_rlhf}


def path(case: str) -> Path:
    return HERE / f"{case}.json"


def load(case: str) -> dict:
    return json.loads(path(case).read_text())


if __name__ == "__main__":  # pragma: no cover - recording is a deliberate, manual act
    force = "--force" in sys.argv
    for case, fn in CASES.items():
        if path(case).exists() and not force:
            print(f"{path(case)} exists; pass --force to record it again")
            continue
        path(case).write_text(json.dumps(fn(), allow_nan=True))
        print("recorded", path(case))
