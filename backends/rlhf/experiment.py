"""The ``firm rlhf`` job: the LoRA RLHF task run by the federated engine, a preference sweep, plots, adapter.

One loop serves every backend: ``firm_core.federated.run(task, AlgorithmConfig, RunConfig)`` with the
:class:`~backends.rlhf.task.RLHFTask`. Each round's record comes from the engine: D_lambda, D_x,
lambda, communication (in the adapter's bytes), dropped clients, wall time, and in its extras the RLHF
scalars (training rewards and KL of the clients' steps, from the task's ``pop_round_extras``;
evaluation rewards and KL of x_t on the rounds that are evaluated). :class:`RoundCollector`, the run's
progress hook, adds each client's mean lambda of the round and, with a KL controller, the coefficient the
round used, then updates the controller with the round's training KL (its states are saved next to the
checkpoint folder so that a resume continues it).
"""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

import numpy as np

from firm_core.federated import AlgorithmConfig, RunConfig, run

from ._imports import require_llm_stack
from .build import LLMTaskConfig, build_task
from .policy import state_nbytes

require_llm_stack()

import torch  # noqa: E402

#: first-objective weights of the M = 2 sweep
SWEEP_M2 = (0.85, 0.65, 0.35, 0.15)


def sweep_preferences(m: int, main: np.ndarray) -> list[np.ndarray]:
    """The main preference first, then (M = 2) (a, 1 - a) for a in SWEEP_M2, or (M > 2) per objective k
    0.6 e_k + 0.4 * uniform; duplicates of earlier points dropped."""
    cands = [np.array([a, 1.0 - a]) for a in SWEEP_M2] if m == 2 else []
    for k in range(m if m != 2 else 0):
        p = 0.4 * np.full(m, 1.0 / m)
        p[k] += 0.6
        cands.append(p)
    out = [np.asarray(main, dtype=np.float64)]
    for p in cands:
        if all(np.abs(p - q).max() > 1e-9 for q in out):
            out.append(p)
    return out


#: per-round KL controller states of the main run, next to its checkpoint folder
KL_STATES_FILE = "kl_controller.json"


class RoundCollector:
    """Progress hook of a run on an RLHFTask: one row per round with the engine's record, its extras
    and each client's mean lambda; forwards to ``inner`` (a progress bar) when given."""

    def __init__(self, task, inner=None):
        self.task, self.inner, self.rows = task, inner, []
        self.kl_states: dict[str, dict] = {}  # rounds done -> the KL controller then (to resume from)
        self.kl_file: Path | None = None
        task.last_eval = {}

    def __call__(self, record, total):
        self.task.last_eval = {}  # so that after the run it holds the evaluation of x_T alone
        row = {"round": record.round, **record.extras}
        if getattr(self.task, "kl_controller", None) is not None:  # the coefficient this round used, then update
            row["kl_coef"] = float(self.task.local.kl_coef)
            self.task.update_kl(row.get("train_kl", math.nan))
            self.kl_states[str(record.round + 1)] = self.task.kl_controller.to_dict()  # after round+1 rounds
            if self.kl_file is not None:
                self.kl_file.write_text(json.dumps(self.kl_states))
        row["client_lambdas"] = self.task.popped_client_lambdas.tolist()
        row["record"] = record
        self.rows.append(row)
        if self.inner is not None:
            self.inner(record, total)


def run_task(task, algorithm: AlgorithmConfig, rounds: int, *, eval_every: int = 1, progress=None,
             checkpoint_dir=None, checkpoint_every=None, resume_from=None):
    """(History, per-round rows) of one engine run of ``task``; the final point is evaluated.

    The task's KL controller restarts from its initial state, or under ``resume_from`` from the state it
    had after the checkpoint's round (``kl_controller.json`` next to the checkpoint folder)."""
    from firm_core.federated.checkpoint import checkpoint_round

    kl_file = Path(checkpoint_dir).parent / KL_STATES_FILE if checkpoint_dir is not None else None
    states = json.loads(kl_file.read_text()) if kl_file is not None and kl_file.is_file() else {}
    start = checkpoint_round(resume_from) if resume_from is not None else None
    if getattr(task, "kl_controller", None) is not None:
        if start and str(start) not in states:
            raise ValueError(f"cannot resume from {resume_from}: {kl_file} has no KL controller state for "
                             f"round {start}")
        task.reset_kl(states.get(str(start)) if start else None)
    collector = RoundCollector(task, progress)
    if start:
        collector.kl_states = {k: v for k, v in states.items() if int(k) <= start}
        if kl_file is not None:
            kl_file.write_text(json.dumps(collector.kl_states))
    if kl_file is not None and getattr(task, "kl_controller", None) is not None:
        collector.kl_file = kl_file
    cfg = RunConfig(rounds=rounds, eval_every=eval_every, checkpoint_every=checkpoint_every, name="rlhf")
    history = run(task, algorithm, cfg, progress=collector, checkpoint_dir=checkpoint_dir, resume_from=resume_from)
    return history, collector.rows


def _final(task, history) -> dict:
    """Evaluation rewards / KL of x_T (the engine evaluated it last)."""
    ev = task.last_eval or task.evaluate(np.asarray(history.final_point["x"]))
    if "rewards" not in ev:  # evaluation is off (eval_samples = 0)
        return {"rewards": [math.nan] * task.num_objectives, "kl": math.nan, "samples": []}
    return {"rewards": np.asarray(ev["rewards"], dtype=np.float64).tolist(), "kl": float(ev["kl"]),
            "samples": list(ev.get("samples", []))}


def write_rounds_csv(path: Path, rows: list[dict], names: list[str]) -> None:
    """One line per round: training and evaluation rewards, KL, D_lambda, D_x, lambda_bar, uplink /
    downlink bytes of the real tensors, dropped clients, wall time."""
    cols = ["round", *[f"train_reward_{n}" for n in names], "train_kl", "kl_coef",
            *[f"reward_{n}" for n in names], "kl",
            "d_lambda", "d_x", *[f"lambda_mean_{n}" for n in names], "lambda_pref_dev", "uplink_bytes",
            "downlink_bytes", "num_dropped", "wall_time"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for row in rows:
            rec = row["record"]
            vals = dict(row, d_lambda=rec.d_lambda, d_x=rec.d_x, uplink_bytes=rec.uplink_bytes,
                        downlink_bytes=rec.downlink_bytes, num_dropped=len(rec.dropped),
                        wall_time=round(rec.wall_time, 4),
                        **{f"lambda_mean_{n}": v for n, v in zip(names, rec.lambda_mean, strict=True)})
            w.writerow(["" if isinstance(vals.get(c), float) and math.isnan(vals[c]) else vals.get(c, "") for c in cols])


def rows_to_json(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "record"} for r in rows]


def run_rlhf(out_dir: Path, task_cfg: LLMTaskConfig, algorithm: AlgorithmConfig, rounds: int, *,
             eval_every: int = 1, sweep: bool = True, progress=None, checkpoint_every: int | None = None,
             resume: bool = False, task=None, tensorboard: bool = False) -> dict:
    """Run and write everything under ``out_dir``; returns the summary dict (also in summary.json).

    ``progress``: None or a factory ``desc -> context manager yielding a hook`` (a progress bar).
    The main run checkpoints under ``out_dir/checkpoint`` (every ``checkpoint_every`` rounds and at the
    end); ``resume`` continues it from there. The sweep (other preferences, for the Pareto plot) runs
    only without per-client preferences. ``tensorboard``: also write the per-round scalars under
    ``out_dir/tensorboard`` (needs the tensorboard extra)."""
    import contextlib

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    task = task if task is not None else build_task(task_cfg, progress=progress is not None)
    names, m = task.objective_names, task.num_objectives
    main_pref = algorithm.preference_array(m)
    prefs = sweep_preferences(m, main_pref) if sweep and task.client_preferences is None else [main_pref]
    bar = progress or (lambda desc: contextlib.nullcontext(None))
    ckpt = out_dir / "checkpoint"
    results = []
    for k, p in enumerate(prefs):
        cfg = algorithm.replace(preference=tuple(float(v) for v in p))
        label = "main run" if k == 0 else f"sweep {k}/{len(prefs) - 1}"
        with bar(f"{label} {cfg.display_name} p={tuple(round(float(v), 2) for v in p)}") as hook:
            # sweep runs are evaluated at x_0 and x_T only (their final rewards make the Pareto plot)
            hist, rows = run_task(task, cfg, rounds, eval_every=eval_every if k == 0 else max(1, rounds), progress=hook,
                                  checkpoint_dir=ckpt if k == 0 else None,
                                  checkpoint_every=checkpoint_every if k == 0 else None,
                                  resume_from=ckpt if k == 0 and resume else None)
        results.append((cfg, hist, rows, _final(task, hist)))
    cfg, hist, rows, final = results[0]
    x_final = np.asarray(hist.final_point["x"])

    from .plots import plot_lambda, plot_pareto, plot_reward_curves

    plot_reward_curves(rows, names, out_dir / "reward_curves.png")
    plot_lambda(rows, names, task.client_preferences if task.client_preferences is not None else main_pref,
                out_dir / "lambda_trajectories.png")
    initial = [rows[0].get(f"reward_{n}", math.nan) for n in names] if rows else [math.nan] * m
    points = [{"preference": c.preference_array(m).tolist(),
               "initial": initial, "final": f["rewards"], "final_kl": f["kl"]} for c, _, _, f in results]
    if m >= 2:
        plot_pareto(points, names, out_dir / "pareto.png")
    task.load_point(x_final)
    task.model.save_pretrained(str(out_dir / "adapter"), safe_serialization=True)
    hist.to_json(out_dir / "history.json")
    (out_dir / "rounds.json").write_text(json.dumps(rows_to_json(rows), indent=1))
    write_rounds_csv(out_dir / "rounds.csv", rows, names)
    if tensorboard:  # scalars for TensorBoard next to the JSON / CSV history (firm[tensorboard])
        from .tensorboard_log import write_tensorboard

        write_tensorboard(out_dir / "tensorboard", rows, names)
    up = [r["record"].uplink_bytes for r in rows]
    weights = task.client_preferences if task.client_preferences is not None else main_pref
    mean_p = np.mean(np.atleast_2d(weights), axis=0)
    summary = {
        "model": task_cfg.model if task_cfg is not None else "custom",
        "objectives": names,
        "algorithm": cfg.to_dict(),
        "display_name": cfg.display_name,
        "task": task.describe(),
        "rounds": rounds,
        "device": str(task.device),
        "initial_rewards": initial,
        "final_rewards": final["rewards"],
        "initial_weighted": float(np.dot(mean_p, initial)),
        "final_weighted": float(np.dot(mean_p, final["rewards"])),
        "final_kl": final["kl"],
        "initial_kl": rows[0].get("kl", math.nan) if rows else math.nan,
        "kl_controller": None if task.kl_controller is None else task.kl_controller.to_dict(),
        "uplink_bytes_total": int(sum(up)),
        "uplink_bytes_per_client_round": _per_client(rows[0]["record"]) if rows else 0,
        "adapter_bytes": state_nbytes(task.point_state(x_final)),
        "mean_d_lambda": _nanmean([r["record"].d_lambda for r in rows]),
        "mean_d_x": _nanmean([r["record"].d_x for r in rows]),
        "dropped": [dict(d, round=r["round"]) for r in rows for d in r["record"].dropped],
        "pareto": points,
        "samples": final["samples"][:8],
        "seconds": time.perf_counter() - t0,
        "torch_threads": torch.get_num_threads(),
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1, default=_json_default))
    return summary


def _per_client(record) -> int:
    """Uplink bytes of one client that finished the round (the round's uplink over its finished clients)."""
    finished = len(record.participants) - len(record.dropped)
    return int(record.uplink_bytes / finished) if finished else 0


def _nanmean(vals) -> float | None:
    a = np.asarray(vals, dtype=np.float64)
    return float(np.nanmean(a)) if a.size and np.isfinite(a).any() else None


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON-serializable: {type(o).__name__}")
