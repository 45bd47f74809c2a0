"""FIRM and its baselines, one module per algorithm, on a common explicit-state frame.

    algo = make_algorithm(AlgorithmConfig(name="firm", beta=1.0))
    state = algo.init(task_or_problem)
    state, out = algo.step(task_or_problem, state)

Round t for every algorithm: :func:`~firm_core.federated.sampling.sample_round` gives the distinct
participants and their aggregation weights a_i (unbiased: E[update] = the full-participation update);
the clients run through the :class:`~firm_core.federated.task.ClientTask` methods; faulty clients are
dropped (recorded, warned); the server renormalizes a over the clients that finished. No client left,
or zero total weight: the round is skipped (x_{t+1} = x_t).

Communication per participating client per round (floats; bytes = 8 x floats):
    FIRM, Local-MGDA, FedAvg-LS: up d, down d.   FMGDA, FSMGDA: up M d, down d.
    FedCMOO ("official", the default): up r (M + d) (sketch) + 3 M^2 (Gram, cross term, residual Gram)
    + d (model), down d (model) + r (M + d) (compressed sum of the sketches) + 1 (weight factor) + M (lambda).
    FedCMOO ("exact_lambda"): up r (M + d) + d, down d + M.
FIRM's per-step lambdas are diagnostics and are not counted (the uplink of FIRM is d floats).
"""

from __future__ import annotations

from ..config import AlgorithmConfig
from ..sampling import SAMPLING_STREAM, sample_participants, sample_round
from .base import BYTES_PER_FLOAT, FederatedAlgorithm, FederatedState, RoundOutput, build_record
from .fedavg_ls import FedAvgLS
from .fedcmoo import FedCMOO
from .firm import FIRM
from .fmgda import FMGDA
from .fsmgda import FSMGDA
from .local_mgda import LocalMGDA

#: The class that runs each AlgorithmConfig name.
ALGORITHM_CLASSES: dict[str, type[FederatedAlgorithm]] = {
    "firm": FIRM,
    "local_mgda": LocalMGDA,
    "fedavg_ls": FedAvgLS,
    "fmgda": FMGDA,
    "fsmgda": FSMGDA,
    "fedcmoo": FedCMOO,
}


def make_algorithm(config: AlgorithmConfig) -> FederatedAlgorithm:
    """The algorithm object for ``config.name``."""
    if not isinstance(config, AlgorithmConfig):
        raise TypeError(f"make_algorithm: `config` must be an AlgorithmConfig, got {type(config).__name__}")
    return ALGORITHM_CLASSES[config.name](config)


__all__ = [
    "ALGORITHM_CLASSES",
    "BYTES_PER_FLOAT",
    "FIRM",
    "FMGDA",
    "FSMGDA",
    "SAMPLING_STREAM",
    "FedAvgLS",
    "FedCMOO",
    "FederatedAlgorithm",
    "FederatedState",
    "LocalMGDA",
    "RoundOutput",
    "build_record",
    "make_algorithm",
    "sample_participants",
    "sample_round",
]
