"""Federated engine: FIRM and its baselines, with metrics, checkpoints and exact resume.

    from firm_core.federated import AlgorithmConfig, RunConfig, run
    history = run(problem, AlgorithmConfig(name="firm", beta=1.0, local_steps=5), RunConfig(rounds=100))
    history.series("phi"); history.to_json("firm.json"); history.to_csv("firm.csv")

The algorithms talk to clients only through the :class:`ClientTask` protocol; a numpy problem is
wrapped by :func:`as_client_task` (:class:`ProblemTask`), any other backend implements the protocol.
Building blocks (also used by the Flower backend): :func:`local_update` (the per-client update,
batched over clients), :func:`aggregate` (server averaging), :func:`client_rng` (per-client randomness),
:func:`sample_round` (unbiased client sampling and aggregation weights).
"""

from .algorithms import (
    BYTES_PER_FLOAT,
    FIRM,
    FMGDA,
    FSMGDA,
    FedAvgLS,
    FedCMOO,
    FederatedAlgorithm,
    FederatedState,
    LocalMGDA,
    RoundOutput,
    make_algorithm,
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
from .checkpoint import CheckpointError
from .engine import RunInterrupted, load_checkpoint, run, run_many, save_checkpoint
from .faults import ClientDroppedWarning, RoundSkippedWarning
from .history import History, RoundRecord
from .metrics import evaluate_point, lambda_disagreement, model_drift
from .numpy_task import ProblemTask, as_client_task
from .sampling import sample_participants, sample_round
from .server import aggregate, aggregate_mgda, fedcmoo_weights, normalized_weights, sketched_jacobian
from .task import ClientTask

__all__ = [
    "CheckpointError",
    "RunInterrupted",
    "ALGORITHMS",
    "BYTES_PER_FLOAT",
    "DISPLAY_NAMES",
    "FIRM",
    "FMGDA",
    "FSMGDA",
    "AlgorithmConfig",
    "ClientDroppedWarning",
    "ClientTask",
    "FedAvgLS",
    "FedCMOO",
    "FederatedAlgorithm",
    "FederatedState",
    "History",
    "LocalMGDA",
    "LocalResult",
    "ProblemTask",
    "RoundOutput",
    "RoundRecord",
    "RoundSkippedWarning",
    "RunConfig",
    "aggregate",
    "aggregate_mgda",
    "as_client_task",
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
    "sample_round",
    "save_checkpoint",
    "sketch_floats",
    "sketched_jacobian",
]
