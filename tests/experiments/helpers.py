"""Small configs shared by the experiment tests (a few rounds, a few clients: seconds, not minutes)."""

import copy

from firm_core.federated.config import ALGORITHMS
from firm_core.problems import HeterogeneousQuadratics


def tiny_config(rounds: int = 4, **run) -> dict:
    """Every algorithm on a small noisy quadratic problem, checkpointing every 2 rounds."""
    return {
        "name": "tiny",
        "problem": {"name": "quadratics", "num_clients": 4, "num_objectives": 2, "dim": 3, "noise_std": 0.1, "seed": 1},
        "run": {"rounds": rounds, "seed": 3, "checkpoint_every": 2, **run},
        "defaults": {"local_steps": 2, "lr": 0.1, "participation": 3},
        "algorithms": [{"name": name} for name in ALGORITHMS],
        "sweep": {"points": 3},
    }


def with_change(raw: dict, path: tuple, value) -> dict:
    """Copy of ``raw`` with the field at ``path`` (keys and list indices) set to ``value``."""
    out = copy.deepcopy(raw)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def without(raw: dict, path: tuple) -> dict:
    out = copy.deepcopy(raw)
    node = out
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return out



class QuadraticsWithoutFront(HeterogeneousQuadratics):
    """Quadratics that hide their analytic Pareto set and front (as a problem on real data would), to
    exercise the code paths for problems without one."""

    def pareto_front(self, num):
        return None

    def pareto_set_point(self, weights):
        return None

    def distance_to_pareto_set(self, x):
        return None
