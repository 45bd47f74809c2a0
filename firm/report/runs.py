"""One seeded federated run of the suite, reduced to the series the report needs."""

from __future__ import annotations

import numpy as np

from firm_core.federated import AlgorithmConfig, RunConfig, run

from .config import SuiteConfig
from .uplink import UplinkRecorder


def algorithm_config(cfg: SuiteConfig, name: str, lr: float, seed: int, *, beta=None, preference=None):
    """AlgorithmConfig of ``name`` with the suite's K; FIRM gets the suite's beta unless ``beta`` is given."""
    if name == "firm" and beta is None:
        beta = cfg.firm_beta
    pref = None if preference is None else tuple(float(v) for v in preference)
    return AlgorithmConfig(name=name, local_steps=cfg.local_steps, lr=lr, beta=beta, preference=pref, seed=seed)


def run_series(problem, algo: AlgorithmConfig, rounds: int, *, client_preferences=None) -> dict:
    """Run and return {"phi" (T+1), "objectives" (T+1, M), "lambda" (T, M), "d_lambda", "d_x",
    "uplink_record", "uplink_serialized", "uplink_payload" (T each)} as lists (the last phi / F are x_T's)."""
    rec = UplinkRecorder(problem, sketch_rank=algo.sketch_rank, client_preferences=client_preferences,
                        fedcmoo_variant=algo.fedcmoo_variant)
    logs = []
    history = run(rec, algo, RunConfig(rounds=rounds), progress=lambda r, t: logs.append(rec.close_round()))
    recs = history.records
    final = history.final_point
    logs = np.asarray(logs, dtype=np.int64).reshape(-1, 3)
    return {
        "phi": [r.phi for r in recs] + [final["phi"]],
        "objectives": [list(r.objectives) for r in recs] + [list(final["objectives"])],
        "lambda": [list(r.lambda_mean) for r in recs],
        "d_lambda": [r.d_lambda for r in recs],
        "d_x": [r.d_x for r in recs],
        "uplink_record": [int(r.uplink_bytes) for r in recs],
        "uplink_serialized": logs[:, 0].tolist(),
        "uplink_payload": logs[:, 1].tolist(),
        "messages": logs[:, 2].tolist(),
    }
