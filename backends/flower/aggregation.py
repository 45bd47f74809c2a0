"""Who takes part in round t and with what weight, and the server's guarded average.

:func:`sample_round` is the one place the Flower strategy gets its participants and their
aggregation weights from: the in-memory engine's draw, ``firm_core.federated.sample_round`` (all N
clients weighted by w / sum(w) when S is None or S >= N; else S draws with replacement proportional to
w, each drawn client weighted by its count / S, so the expected update is the full-participation one).
The weights come from the server's own record (``problem.client_weights``), never from what a client
reports.

:func:`guarded_average` is ``firm_core.federated.server.aggregate``,
x_{t+1} = x_t + eta_g (sum_i wbar_i y_i - (sum_i wbar_i) x_t), wbar_i = v_i / sum_j v_j over the
accepted replies, refused (the round is skipped, x_{t+1} = x_t) when there is no reply, the total
weight is not positive, or the result is not finite (finite but huge replies, or a huge eta_g, can
overflow). The uploads stay in their wire dtype (a float32 adapter stays float32) and are summed one
at a time into a float64 running sum by the engine's own ``firm_core.federated.server.weighted_row_sum``
(each upload upcast element by element): the server holds no (n, d) float64 array, and every entry of
x_{t+1} is the engine's to the bit (a one-ulp difference in x_{t+1} can flip a float32 rounding of
the adapter, which Adam's normalized steps then amplify). :func:`streamed_drift` is the engine's D_x
= mean_i ||y_i - x_{t+1}||^2 over the same uploads, one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from firm_core.federated import normalized_weights
from firm_core.federated.server import weighted_row_sum
from firm_core.federated.sampling import sample_round as core_sample_round

#: Reasons for a refused average (recorded in the round's skip warning).
NO_REPLY = "no valid reply"
ZERO_WEIGHT = "participants' total weight is 0"
NOT_FINITE = "the weighted average is not finite (overflow)"


@dataclass(frozen=True)
class RoundSample:
    """The participants of round t (distinct client ids, sorted) and the aggregation weight of each."""

    participants: np.ndarray
    weights: np.ndarray

    def weight_of(self, client_ids) -> np.ndarray:
        """Aggregation weights of ``client_ids`` (each must be a participant)."""
        pos = {int(c): j for j, c in enumerate(self.participants)}
        return np.array([self.weights[pos[int(c)]] for c in client_ids], dtype=np.float64)


def sample_round(seed: int, round_index: int, client_weights, participation: int | None) -> RoundSample:
    """Participants of round t and their aggregation weights (see the module docstring)."""
    ids, weights = core_sample_round(seed, round_index, np.asarray(client_weights, dtype=np.float64), participation)
    return RoundSample(np.asarray(ids), np.asarray(weights, dtype=np.float64))


def guarded_average(x: np.ndarray, ys, weights: np.ndarray, server_lr: float) -> tuple[np.ndarray | None, str]:
    """(x_{t+1}, "") or (None, reason) when the average is refused (module docstring); ``ys`` the
    accepted uploads, each a (d,) vector in its wire dtype."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.size == 0:
        return None, NO_REPLY
    if not weights.sum() > 0:
        return None, ZERO_WEIGHT
    wbar = normalized_weights(weights, where="guarded_average")
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        x_new = x + float(server_lr) * (weighted_row_sum(wbar, ys) - wbar.sum() * x)
    if not np.all(np.isfinite(x_new)):
        return None, NOT_FINITE
    return x_new, ""


def streamed_drift(ys, x_new: np.ndarray) -> float:
    """D_x = mean_i ||y_i - x_{t+1}||^2 over the uploads ``ys`` (NaN when there is none), one at a time."""
    ys = list(ys)
    if not ys:
        return float("nan")
    x_new = np.asarray(x_new, dtype=np.float64)
    return float(np.mean([np.sum(np.subtract(y, x_new, dtype=np.float64) ** 2) for y in ys]))
