"""The report's fixed, seeded suite: problems, seeds, rounds, step-size grid (quick and full)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from firm_core.federated import ALGORITHMS

#: Seed of the step-size tuning runs (not among the report's seeds, so tuning does not select on them).
TUNE_SEED = 1000
#: Fonseca-Fleming's start: off the Pareto segment, orthogonal to it, at equal distance from both centers
#: (F_1 = F_2 = 1 - exp(-1.72)), where both gradients are far from vanishing.
FONSECA_X0 = (0.6, -0.6, 0.0)
#: Clients of every toy problem; their weights are unequal (w_i proportional to i + 1).
NUM_CLIENTS = 8


@dataclass(frozen=True)
class SuiteConfig:
    """Everything that fixes the suite's numbers (its fingerprint decides whether a results file resumes)."""

    quick: bool = False
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    rounds: int = 60
    local_steps: int = 5
    lr_grid: tuple[float, ...] = (0.02, 0.05, 0.1)
    firm_beta: float = 1.0
    sweep_points: int = 5
    betas: tuple[float, ...] = (0.0, 0.1, 1.0, 10.0)
    heterogeneity: tuple[float, ...] = (0.25, 1.0, 4.0)
    preference_heterogeneity: tuple[float, ...] = (0.0, 0.5, 1.0)
    problems: tuple[str, ...] = ("quadratics", "fonseca_fleming")
    algorithms: tuple[str, ...] = ALGORITHMS
    llm: bool = True  # the LLM section (needs the torch and align extras; says "not run" without them)

    @classmethod
    def make(cls, quick: bool) -> SuiteConfig:
        if not quick:
            return cls()
        return cls(quick=True, seeds=(0, 1), rounds=12, lr_grid=(0.05, 0.1), sweep_points=3, betas=(0.0, 1.0, 10.0),
                   heterogeneity=(0.5, 2.0), preference_heterogeneity=(0.0, 1.0))

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def client_weights() -> np.ndarray:
    w = np.arange(1, NUM_CLIENTS + 1, dtype=np.float64)
    return w / w.sum()


def make_problem(name: str, heterogeneity: float = 1.0):
    """The suite's two toy problems; ``heterogeneity`` scales the clients' differences (1 = the default)."""
    from firm_core.problems import make_problem as build

    if name == "quadratics":
        return build("quadratics", num_clients=NUM_CLIENTS, dim=5, heterogeneity=heterogeneity, noise_std=0.1,
                     seed=0, client_weights=client_weights())
    if name == "fonseca_fleming":
        return build("fonseca_fleming", num_clients=NUM_CLIENTS, dim=3, heterogeneity=0.5 * heterogeneity,
                     noise_std=0.05, seed=0, client_weights=client_weights(), x0=FONSECA_X0)
    raise ValueError(f"make_problem: unknown report problem `name` {name!r}")


def client_preference_rows(kappa: float, m: int) -> np.ndarray:
    """Preference heterogeneity kappa in [0, 1]: p_i = (1 - kappa) u + kappa e_{i mod M}, u uniform."""
    u = np.full(m, 1.0 / m)
    return np.stack([(1.0 - kappa) * u + kappa * np.eye(m)[i % m] for i in range(NUM_CLIENTS)])
