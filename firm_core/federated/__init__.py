"""Federated engine: FIRM and its baselines on numpy problems, with metrics, checkpoints and exact resume.

    from firm_core.federated import AlgorithmConfig, RunConfig, run
    history = run(problem, AlgorithmConfig(name="firm", beta=1.0, local_steps=5), RunConfig(rounds=100))
    history.series("phi"); history.to_json("firm.json"); history.to_csv("firm.csv")

Building blocks (also used by the Flower backend): :func:`local_update` (the per-client update,
batched over clients), :func:`aggregate` (server averaging), :func:`client_rng` (per-client randomness).
"""

from .algorithms import (
    BYTES_PER_FLOAT,
    FIRM,
    FMGDA,
    FedAvgLS,
    FedCMOO,
    FederatedAlgorithm,
    FederatedState,
    RoundOutput,
    make_algorithm,
    sample_participants,
)
from .client import (
    LocalResult,
    client_rng,
    client_rngs,
    local_update,
    per_objective_local_update,
    randomized_svd_sketch,
    resolve_method,
    sketch_floats,
)
from .config import ALGORITHMS, DISPLAY_NAMES, AlgorithmConfig, RunConfig
from .engine import load_checkpoint, run, run_many, save_checkpoint
from .faults import ClientDroppedWarning, RoundSkippedWarning
from .history import History, RoundRecord
from .metrics import evaluate_point, lambda_disagreement, model_drift
from .server import aggregate, aggregate_mgda, fedcmoo_weights, normalized_weights, sketched_jacobian

__all__ = [
    "ALGORITHMS",
    "BYTES_PER_FLOAT",
    "DISPLAY_NAMES",
    "FIRM",
    "FMGDA",
    "AlgorithmConfig",
    "ClientDroppedWarning",
    "FedAvgLS",
    "FedCMOO",
    "FederatedAlgorithm",
    "FederatedState",
    "History",
    "LocalResult",
    "RoundOutput",
    "RoundRecord",
    "RoundSkippedWarning",
    "RunConfig",
    "aggregate",
    "aggregate_mgda",
    "client_rng",
    "client_rngs",
    "evaluate_point",
    "fedcmoo_weights",
    "lambda_disagreement",
    "load_checkpoint",
    "local_update",
    "make_algorithm",
    "model_drift",
    "normalized_weights",
    "per_objective_local_update",
    "randomized_svd_sketch",
    "resolve_method",
    "run",
    "run_many",
    "sample_participants",
    "save_checkpoint",
    "sketch_floats",
    "sketched_jacobian",
]
