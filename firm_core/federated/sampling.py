"""Which clients take part in round t, and with which aggregation weights (unbiased partial participation).

Full participation (S None or S >= N): every client, aggregation weights a_i = w_i / sum_j w_j.

Partial participation (S < N): S independent draws with replacement from the client weights,

    draws = default_rng([seed, t, 0, 1]).choice(N, size=S, replace=True, p=w / sum(w))
    ids, counts = unique(draws);   a_i = counts_i / S

A client drawn twice runs once and counts twice. Since E[counts_i] = S w_i / sum(w), the expected
server update equals the full-participation update:
E[sum_i a_i (y_i - x_t)] = sum_i (w_i / sum w) (y_i - x_t). (Drawing S clients uniformly and
renormalizing their weights instead is biased whenever the weights are unequal: with weights
(0.7, 0.1, 0.1, 0.1) and S = 1 its expected step is the uniform-weight step.) The server then
renormalizes the a_i over the clients that finished the round.
"""

from __future__ import annotations

import numbers

import numpy as np

#: The sampling stream of round t is default_rng([seed, t, 0, SAMPLING_STREAM]); client streams are
#: default_rng([seed, t, i]) = default_rng([seed, t, i, 0]) (SeedSequence pads with zeros).
SAMPLING_STREAM = 1


def _check_weights(weights, where: str) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.size == 0:
        raise ValueError(f"{where}: `weights` must be a non-empty 1-D array, got shape {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"{where}: `weights` must be finite and >= 0, got {w.tolist()}")
    return w


def _check_participation(participation, where: str) -> int | None:
    if participation is None:
        return None
    if isinstance(participation, bool) or not isinstance(participation, numbers.Integral):
        raise TypeError(f"{where}: `participation` must be an integer >= 1 or None, got {participation!r} "
                        f"of type {type(participation).__name__}")
    if participation < 1:
        raise ValueError(f"{where}: `participation` must be an integer >= 1 or None, got {participation!r}")
    return int(participation)


def sample_round(seed: int, round_index: int, weights, participation: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(ids, aggregation weights): the sorted distinct clients of round t and a_i (summing to 1).

    See the module docstring for the scheme. Full participation with all-zero weights returns the zero
    weights unchanged (the server then skips the round); partial participation needs a positive sum.
    """
    where = "sample_round"
    w = _check_weights(weights, where)
    s = _check_participation(participation, where)
    n = w.size
    total = w.sum()
    if s is None or s >= n:
        return np.arange(n), (w / total if total > 0 else w.copy())
    if not total > 0:
        raise ValueError(f"{where}: `weights` must have a positive sum to sample clients, got {w.tolist()}")
    rng = np.random.default_rng([int(seed), int(round_index), 0, SAMPLING_STREAM])
    draws = rng.choice(n, size=s, replace=True, p=w / total)
    ids, counts = np.unique(draws, return_counts=True)
    return ids.astype(np.int64), counts / s


def sample_participants(seed: int, round_index: int, num_clients: int, participation: int | None,
                        weights=None) -> np.ndarray:
    """The sorted distinct client ids of round t under :func:`sample_round` (uniform weights when
    ``weights`` is None). Their aggregation weights are :func:`sample_round`'s second output."""
    n = int(num_clients)
    w = np.full(n, 1.0 / n) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"sample_participants: `weights` must have shape ({n},) (num_clients), got {w.shape}")
    return sample_round(seed, round_index, w, participation)[0]
