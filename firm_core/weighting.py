"""FIRM's weighting and step: the one home of the update every backend takes.

    lambda*(Q; beta, p) = argmin_{l in simplex} 0.5 l^T Q l + 0.5 beta ||l - p||^2     firm_weights
    d = J^T lambda                                                                      combine
    y_next = y - eta J^T lambda*(J J^T; beta, p)                                        firm_step

``beta`` is absolute everywhere. The only other convention is :func:`scaled_beta` with
``relative=True``: beta * tr(Q) / M, i.e. beta in units of the mean squared per-objective gradient
norm, which makes beta scale-free (used by the LLM backend). beta = inf gives lambda = p exactly
(linear scalarization). Everything here is batched over leading axes and depends on J only through Q,
except :func:`combine`, which is written with plain operators so that the same function combines
numpy arrays and torch tensors.
"""

from __future__ import annotations

import math

import numpy as np

from .min_norm import solve_min_norm
from .result import SolverStatus


def scaled_beta(beta: float, gram, *, relative: bool) -> float:
    """beta, or beta * tr(Q) / M when ``relative`` (an infinite beta stays infinite)."""
    beta = float(beta)
    if not relative or math.isinf(beta):
        return beta
    q = np.asarray(gram, dtype=np.float64)
    return beta * float(np.trace(q, axis1=-2, axis2=-1).mean()) / q.shape[-1]


def firm_weights(gram, *, beta: float = 0.0, preference=None, method: str = "auto"):
    """(lambda (..., M), worst SolverStatus, message): lambda*(Q; beta, p) for Gram matrices (..., M, M).

    beta = inf returns p (broadcast), which is the limit of the regularized problem."""
    q = np.asarray(gram, dtype=np.float64)
    m = q.shape[-1]
    if math.isinf(float(beta)):
        p = np.full(m, 1.0 / m) if preference is None else np.asarray(preference, dtype=np.float64)
        return np.broadcast_to(p, q.shape[:-1]).copy(), SolverStatus.CONVERGED, "beta = inf: lambda = preference"
    res = solve_min_norm(gram=q, beta=beta, preference=preference, method=method)
    return np.asarray(res.weights), res.status, res.message


def combine(weights, jacobian):
    """J^T lambda: sum_m lambda_m J_m for weights (..., M) and Jacobians (..., M, d) (numpy or torch)."""
    return (weights[..., :, None] * jacobian).sum(-2)


def firm_step(y, jacobian, lr: float, *, beta: float = 0.0, preference=None, method: str = "auto"):
    """One FIRM step for points y (..., d) with Jacobians J (..., M, d):
    y - lr J^T lambda*(J J^T; beta, p). Returns (y_next, lambda, worst SolverStatus)."""
    jac = np.asarray(jacobian, dtype=np.float64)
    gram = jac @ np.swapaxes(jac, -1, -2)
    lam, status, _ = firm_weights(gram, beta=beta, preference=preference, method=method)
    return np.asarray(y, dtype=np.float64) - lr * combine(lam, jac), lam, status
