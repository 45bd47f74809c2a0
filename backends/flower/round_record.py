"""The engine-format ``RoundRecord`` of a Flower round, from the core's ``RoundOutput``.

The strategy describes what a round did with the in-memory engine's own ``RoundOutput`` (x_{t+1},
participants, finished clients with their y_i and lambda_i, dropped, skipped, floats each way,
solver status); this turns it plus the metrics of x_t into the record exactly as the engine's
``FederatedAlgorithm.round`` does: D_lambda = lambda_disagreement(lambda_i), D_x =
model_drift(y_i, x_{t+1}). Only the byte counts differ: they are read from the serialized messages
(the LoRA backend's float32 adapter is 4 bytes per float, not the engine's 8).
"""

from __future__ import annotations

import numpy as np
from firm_core.federated import RoundOutput, RoundRecord, lambda_disagreement, model_drift


def round_record(round_index: int, point: dict, out: RoundOutput, *, wall_time: float, uplink_bytes: int,
                 downlink_bytes: int, d_x: float | None = None) -> RoundRecord:
    """Record of round t: ``point`` = metrics of x_t (``evaluate_point``), ``out`` = what the round did;
    ``d_x`` = D_x when the caller streamed it from the uploads (``out.client_points`` then left empty)."""
    lams = out.client_lambdas
    return RoundRecord(
        round=int(round_index),
        phi=point["phi"],
        objectives=tuple(float(v) for v in point["objectives"]),
        d_lambda=lambda_disagreement(lams) if lams is not None else float("nan"),
        d_x=model_drift(out.client_points, out.x_new) if d_x is None else float(d_x),
        dist_pareto=point["dist_pareto"],
        lambda_mean=tuple(float(v) for v in np.asarray(out.lambda_mean, dtype=np.float64)),
        uplink_floats=int(out.uplink_floats),
        downlink_floats=int(out.downlink_floats),
        uplink_bytes=int(uplink_bytes),
        downlink_bytes=int(downlink_bytes),
        wall_time=float(wall_time),
        participants=tuple(int(i) for i in out.participants),
        dropped=tuple(out.dropped),
        skipped=bool(out.skipped),
        solver_status=out.solver_status,
    )
