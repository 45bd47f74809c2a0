"""The embedded default experiment of ``firm run`` (also shipped as examples/configs/default.toml).

Heterogeneous convex quadratics, N = 20 clients, M = 2 objectives, d = 10, noisy gradients; FIRM
(beta = 50) against every baseline (Local-MGDA, FedAvg-LS, FMGDA, FSMGDA, FedCMOO) with the same step
sizes, local steps, participation and seed.
"""

from __future__ import annotations

DEFAULT_EXPERIMENT: dict = {
    "name": "default",
    "problem": {
        "name": "quadratics",
        "num_clients": 20,
        "num_objectives": 2,
        "dim": 10,
        "heterogeneity": 1.0,
        "noise_std": 0.05,
        "seed": 0,
    },
    "run": {"rounds": 100, "seed": 0, "checkpoint_every": 25},
    "defaults": {"local_steps": 5, "lr": 0.05},
    "algorithms": [
        {"name": "firm", "beta": 50.0},
        {"name": "local_mgda"},
        {"name": "fedavg_ls"},
        {"name": "fmgda"},
        {"name": "fsmgda"},
        {"name": "fedcmoo"},
    ],
    "sweep": {"points": 11, "algorithms": [{"name": "firm", "beta": 50.0}, {"name": "fedavg_ls"}]},
}
