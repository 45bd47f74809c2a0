"""Finite-difference checks of Jacobians: for your own problem's oracles, or any map R^d -> R^M.

Central differences (f(x + h e_k) - f(x - h e_k)) / 2h have truncation error O(h^2 f''') and
round-off error O(eps |f| / h). The comparison therefore allows, per entry,

    |J - FD| <= FD_RTOL * max|J| + ROUNDOFF_FACTOR * eps * max|f| / h + RICHARDSON_FACTOR * |FD(h) - FD(h/2)|

where the last term estimates the truncation error from two step sizes, so a strongly curved but
correct Jacobian is not flagged, while a wrong one (transposed, a wrong sign or factor, a missing
term) is: its error does not shrink with h. Above MAX_FD_COORDINATES coordinates the check runs
along random directions v (J v against (f(x + h v) - f(x - h v)) / 2h), which a wrong Jacobian fails
with probability 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "FD_RTOL",
    "FD_STEP",
    "JacobianMismatch",
    "assert_client_jacobians_match_fd",
    "client_jacobian_mismatch",
    "compare_jacobians",
    "fd_client_jacobians",
    "fd_jacobian",
    "probe_directions",
]

#: Relative central-difference step: h = FD_STEP * max(1, ||x||_inf) (about eps^(1/3)).
FD_STEP = 1e-5
#: Relative agreement asked of a Jacobian and its central differences (beyond the error estimates).
FD_RTOL = 1e-6
#: Up to this many coordinates every one is checked; above, this many random directions are.
MAX_FD_COORDINATES = 24
#: Multiplier of the round-off estimate eps * max|f| / h.
ROUNDOFF_FACTOR = 100.0
#: Multiplier of the Richardson truncation-error estimate |FD(h) - FD(h/2)|.
RICHARDSON_FACTOR = 10.0


def _step(x: np.ndarray) -> float:
    return FD_STEP * max(1.0, float(np.max(np.abs(x)))) if x.size else FD_STEP


def fd_jacobian(f: Callable[[np.ndarray], np.ndarray], x, *, step: float | None = None) -> np.ndarray:
    """Central differences of ``f`` (R^d -> R^M, or batched (..., d) -> (..., M)) at x: shape (..., M, d).

    ``f`` is called on the 2d points x +- h e_k stacked along a new leading axis, so a vectorized
    ``f`` costs one call."""
    x = np.asarray(x, dtype=np.float64)
    h = _step(x) if step is None else float(step)
    d = x.shape[-1]
    eye = np.eye(d) * h  # (d, d)
    shifts = eye.reshape((d,) + (1,) * (x.ndim - 1) + (d,))
    vals = np.asarray(f(np.concatenate([x[None] + shifts, x[None] - shifts])), dtype=np.float64)
    diff = (vals[:d] - vals[d:]) / (2 * h)  # (d, ..., M)
    return np.moveaxis(diff, 0, -1)


def fd_client_jacobians(problem, clients, x, *, step: float | None = None, directions=None) -> np.ndarray:
    """Central differences of ``problem.client_values`` for ``clients`` (n,) at points x (n, d).

    Returns (n, M, d), the Jacobians; with ``directions`` V (k, d) the directional derivatives
    (n, M, k), i.e. J V^T, at 2k instead of 2d evaluations (one vectorized call)."""
    clients = np.asarray(clients)
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    v = np.eye(d) if directions is None else np.asarray(directions, dtype=np.float64)
    k = v.shape[0]
    h = _step(x) if step is None else float(step)
    shifts = v[:, None, :] * h  # (k, 1, d)
    points = np.concatenate([x[None] + shifts, x[None] - shifts])  # (2k, n, d)
    vals = problem.client_values(np.tile(clients, 2 * k), points.reshape(2 * k * n, d))
    vals = np.asarray(vals, dtype=np.float64).reshape(2 * k, n, -1)
    return np.moveaxis((vals[:k] - vals[k:]) / (2 * h), 0, -1)


@dataclass(frozen=True)
class JacobianMismatch:
    """Where a Jacobian and its finite differences disagree: the worst entry's index (client, m, k),
    the two values, the error and the allowance it exceeded; ``ok`` when nothing exceeded."""

    ok: bool
    index: tuple[int, ...]
    analytic: float
    finite_difference: float
    error: float
    allowed: float

    def describe(self) -> str:
        return (
            f"entry {self.index}: analytic {self.analytic:.6g} vs finite differences {self.finite_difference:.6g} "
            f"(error {self.error:.3g} > allowed {self.allowed:.3g})"
        )


def compare_jacobians(jac, fd_h, fd_h2, value_scale: float, step: float) -> JacobianMismatch:
    """Compare an analytic Jacobian with central differences at steps h and h/2 (see the module docstring)."""
    jac, fd_h, fd_h2 = (np.asarray(a, dtype=np.float64) for a in (jac, fd_h, fd_h2))
    scale = max(float(np.max(np.abs(jac))) if jac.size else 0.0, float(np.max(np.abs(fd_h2))) if jac.size else 0.0)
    roundoff = ROUNDOFF_FACTOR * np.finfo(np.float64).eps * value_scale / step
    allowed = FD_RTOL * scale + roundoff + RICHARDSON_FACTOR * np.abs(fd_h - fd_h2)
    excess = np.abs(jac - fd_h2) - allowed
    idx = np.unravel_index(int(np.argmax(excess)), excess.shape) if excess.size else ()
    return JacobianMismatch(
        ok=bool(excess.size == 0 or excess[idx] <= 0),
        index=tuple(int(i) for i in idx),
        analytic=float(jac[idx]) if excess.size else 0.0,
        finite_difference=float(fd_h2[idx]) if excess.size else 0.0,
        error=float(abs(jac[idx] - fd_h2[idx])) if excess.size else 0.0,
        allowed=float(allowed[idx]) if excess.size else 0.0,
    )


def probe_directions(d: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """The coordinate axes when d <= MAX_FD_COORDINATES, else MAX_FD_COORDINATES random unit directions."""
    if d <= MAX_FD_COORDINATES:
        return np.eye(d)
    rng = np.random.default_rng(0) if rng is None else rng
    v = rng.standard_normal((MAX_FD_COORDINATES, d))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def client_jacobian_mismatch(problem, clients, x, *, directions=None) -> JacobianMismatch:
    """Compare ``problem.client_jacobians`` at x (n, d) with central differences of ``client_values``,
    along ``directions`` (k, d) (default `probe_directions`); the index is (client, m, direction)."""
    clients = np.asarray(clients)
    x = np.asarray(x, dtype=np.float64)
    v = probe_directions(x.shape[1]) if directions is None else np.asarray(directions, dtype=np.float64)
    h = _step(x)
    jac = np.asarray(problem.client_jacobians(clients, x), dtype=np.float64) @ v.T
    fd_h = fd_client_jacobians(problem, clients, x, step=h, directions=v)
    fd_h2 = fd_client_jacobians(problem, clients, x, step=h / 2, directions=v)
    value_scale = float(np.max(np.abs(problem.client_values(clients, x)))) if len(clients) else 0.0
    return compare_jacobians(jac, fd_h, fd_h2, value_scale, h / 2)


def assert_client_jacobians_match_fd(problem, x, clients=None) -> None:
    """Raise AssertionError naming the worst entry when ``client_jacobians`` disagrees with central
    differences of ``client_values`` at the point x (d,) (every client) or points (n, d)."""
    x = np.asarray(x, dtype=np.float64)
    clients = np.arange(problem.num_clients) if clients is None else np.asarray(clients)
    if x.ndim == 1:
        x = np.broadcast_to(x, (len(clients), x.size)).copy()
    mismatch = client_jacobian_mismatch(problem, clients, x)
    if not mismatch.ok:
        raise AssertionError(f"client_jacobians disagrees with finite differences of client_values: {mismatch.describe()}")
