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


def firm_weights(gram=None, *, jacobian=None, beta: float = 0.0, preference=None, method: str = "auto"):
    """(lambda (..., M), worst SolverStatus, message): lambda*(Q; beta, p) for Gram matrices (..., M, M).

    Pass ``jacobian`` (..., M, d) instead of ``gram`` when the Jacobian is at hand: Q = J J^T is then
    formed inside and needs no symmetry / PSD check. beta = inf returns p (broadcast), which is the
    limit of the regularized problem."""
    if (gram is None) == (jacobian is None):
        raise ValueError("firm_weights: pass exactly one of `gram` or `jacobian`")
    src = np.asarray(gram if jacobian is None else jacobian, dtype=np.float64)
    m = src.shape[-1] if jacobian is None else src.shape[-2]
    if math.isinf(float(beta)):
        p = np.full(m, 1.0 / m) if preference is None else np.asarray(preference, dtype=np.float64)
        return np.broadcast_to(p, src.shape[:-2] + (m,)).copy(), SolverStatus.CONVERGED, "beta = inf: lambda = preference"
    if jacobian is None:
        res = solve_min_norm(gram=src, beta=beta, preference=preference, method=method)
    else:
        res = solve_min_norm(src, beta=beta, preference=preference, method=method)
    return np.asarray(res.weights), res.status, res.message


def combine(weights, jacobian):
    """J^T lambda: sum_m lambda_m J_m for weights (..., M) and Jacobians (..., M, d) (numpy or torch).

    Written as a (batched) row-vector product, the summation order of a matrix product, so that it
    agrees bit for bit with ``lambda @ J`` in numpy and in torch."""
    return (weights[..., None, :] @ jacobian)[..., 0, :]


def firm_step(y, jacobian, lr: float, *, beta: float = 0.0, preference=None, method: str = "auto"):
    """One FIRM step for points y (..., d) with Jacobians J (..., M, d):
    y - lr J^T lambda*(J J^T; beta, p). Returns (y_next, lambda, worst SolverStatus)."""
    jac = np.asarray(jacobian, dtype=np.float64)
    lam, status, _ = firm_weights(jacobian=jac, beta=beta, preference=preference, method=method)
    return np.asarray(y, dtype=np.float64) - lr * combine(lam, jac), lam, status
