"""The ``firm rlhf`` job as a function: main federated run, preference sweep, plots, adapter."""

from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from ._imports import require_llm_stack
from .federated import FederatedConfig, run_federated, save_adapter
from .policy import LoraSpec, adapter_state, attach_lora, load_base
from .rewards import resolve_reward
from .trainer import RLHFConfig

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


def run_rlhf(out_dir: Path, cfg: RLHFConfig, fed: FederatedConfig, model: str = "tiny",
             rewards=("positive_sentiment", "brevity"), lora: LoraSpec | None = None, sweep: bool = True,
             progress: bool = True) -> dict:
    """Run and write everything under ``out_dir``; returns the summary dict (also in summary.json)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    base, tok = load_base(model, progress=progress)
    policy = attach_lora(base, lora, seed=fed.seed)
    sources = [resolve_reward(r) for r in rewards]
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"reward sources must have distinct names, got {names}")
    m = len(sources)
    init = adapter_state(policy)
    main_pref = cfg.preference_vector(m)
    prefs = sweep_preferences(m, main_pref) if sweep else [main_pref]
    results = []
    for k, p in enumerate(prefs):
        run_cfg = replace(cfg, preference=tuple(float(v) for v in p))
        label = "main run" if k == 0 else f"sweep {k}/{len(prefs) - 1}"
        results.append(run_federated(policy, tok, sources, run_cfg, fed, init_state=init, progress=progress,
                                     desc=f"{label} p={tuple(round(float(v), 2) for v in p)}"))
    main = results[0]

    from .plots import plot_lambda, plot_pareto, plot_reward_curves

    plot_reward_curves(main, out_dir / "reward_curves.png")
    plot_lambda(main, out_dir / "lambda_trajectories.png")
    points = [{"preference": r.preference.tolist(), "initial": np.asarray(r.initial_eval["rewards"]).tolist(),
               "final": np.asarray(r.final_eval["rewards"]).tolist(), "final_kl": r.final_eval["kl"]} for r in results]
    if m >= 2:
        plot_pareto(points, names, out_dir / "pareto.png")
    save_adapter(policy, main.final_state, out_dir / "adapter")
    (out_dir / "history.json").write_text(json.dumps(main.to_dict(), indent=1))
    with open(out_dir / "rounds.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["round", *[f"reward_{n}" for n in names], "kl", "d_lambda",
                    *[f"lambda_{n}_mean" for n in names], "uplink_bytes", "downlink_bytes", "skipped_steps", "seconds"])
        for r in main.rounds:
            w.writerow([r.round, *r.rewards, r.kl, r.d_lambda, *np.nanmean(r.client_weights, axis=0),
                        r.uplink_bytes, r.downlink_bytes, r.skipped_steps, round(r.seconds, 3)])
    summary = {
        "model": model,
        "objectives": names,
        "rlhf_config": asdict(cfg),
        "federated_config": asdict(fed),
        "initial_rewards": np.asarray(main.initial_eval["rewards"]).tolist(),
        "final_rewards": np.asarray(main.final_eval["rewards"]).tolist(),
        "initial_weighted": main.weighted(main.initial_eval["rewards"]),
        "final_weighted": main.weighted(main.final_eval["rewards"]),
        "final_kl": main.final_eval["kl"],
        "uplink_bytes_total": int(sum(r.uplink_bytes for r in main.rounds)),
        "mean_d_lambda": float(np.nanmean([r.d_lambda for r in main.rounds])),
        "pareto": points,
        "samples": main.final_eval["samples"][:8],
        "seconds": time.perf_counter() - t0,
        "torch_threads": torch.get_num_threads(),
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
