"""The post-check every min-norm answer passes: feasibility, certificates, statuses and the message.

Certificates are relative to s = max|Q| + beta and computed from the rescaled problem
(:mod:`firm_core.solvers.problem`): with the relative gradient g = c Qs l + w (l - p) = (Q l +
beta (l - p)) / s,

    KKT residual  r   = || l - Proj_simplex(l - g) ||        (0 exactly at the optimum)
    FW gap        gap = g^T l - min_m g_m                     (>= relative suboptimality of the value)
"""

from __future__ import annotations

import numpy as np

from ..result import SolverStatus
from ..simplex import _project_simplex
from ..tolerances import SIMPLEX_FEASIBILITY_TOL

#: Round-off slack of the post-check: recomputing a certificate in another (equivalent) formula moves
#: it by a few ulps of the normalized problem, so the post-check accepts ``cert <= tol + ROUNDOFF_KKT``.
ROUNDOFF_KKT = 1e3 * np.finfo(np.float64).eps

#: Status codes per problem, in order of severity.
CONVERGED, MAX_ITER, NUMERICAL = 0, 1, 2
STATUS_BY_CODE = (SolverStatus.CONVERGED, SolverStatus.MAX_ITER, SolverStatus.NUMERICAL)
STATUS_ARRAY = np.array(STATUS_BY_CODE, dtype=object)


def relative_gradient(qs, c, w, p, lam, beta: float):
    """(g, Qs l): g = c Qs l + w (l - p) = (Q l + beta (l - p)) / s, per problem (B, M)."""
    qsl = (qs @ lam[:, :, None])[:, :, 0]
    g = qsl * c[:, None]
    if beta > 0:
        g += w[:, None] * (lam - p)
    return g, qsl


def certificates(g: np.ndarray, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(relative KKT residual, relative FW gap) per problem from the relative gradient ``g``."""
    r = lam - _project_simplex(lam - g)
    kkt = np.sqrt((r * r).sum(axis=-1))
    gap = (g * lam).sum(axis=-1) - g.min(axis=-1)
    return kkt, np.maximum(gap, 0.0)


def repair_feasibility(lam: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (max(l, 0) / sum max(l, 0), infeasible), rows with non-finite entries or with no positive
    entry replaced by p; ``infeasible`` flags those rows and any with min l < -tol or |1^T l - 1| > tol M
    (tol = SIMPLEX_FEASIBILITY_TOL)."""
    m = lam.shape[-1]
    finite = np.isfinite(lam).all(axis=-1)
    if not finite.all():
        lam = np.where(finite[:, None], lam, p)
    infeasible = (lam.min(axis=-1, initial=0.0) < -SIMPLEX_FEASIBILITY_TOL) | (
        np.abs(lam.sum(axis=-1) - 1.0) > SIMPLEX_FEASIBILITY_TOL * m
    )
    infeasible |= ~finite
    lam = np.maximum(lam, 0.0)
    total = lam.sum(axis=-1, keepdims=True)
    empty = total[:, 0] <= 0  # no positive weight left (already flagged: its sum is not 1)
    if empty.any():
        lam[empty], total[empty] = p, 1.0
    return lam / total, infeasible


def status_codes(converged: np.ndarray, checked: np.ndarray, representable: np.ndarray) -> np.ndarray:
    """Per problem: CONVERGED when the kernel converged, the post-check passed and every output is
    representable; MAX_ITER at the iteration cap; NUMERICAL otherwise."""
    codes = np.where(converged, np.where(checked, CONVERGED, NUMERICAL), MAX_ITER)
    return np.where(representable, codes, NUMERICAL)


def message(name: str, codes, cert, infeasible, tol: float, overflow: str) -> str:
    """One line: what converged, or what hit the cap / failed the post-check / overflowed, and how badly."""
    n = len(codes)
    what = "FW gap" if name == "frank_wolfe" else "relative KKT residual"
    if not codes.any():
        top = float(cert.max()) if n else 0.0
        return f"{name}: converged on {n} problem(s); max {what} {top:.2e} <= tol {tol:.1e}"
    parts = []
    n_iter = int(np.count_nonzero(codes == MAX_ITER))
    if n_iter:
        parts.append(f"{n_iter} of {n} hit the iteration cap")
    failed = (codes == NUMERICAL) & ((cert > tol + ROUNDOFF_KKT) | infeasible)
    if failed.any():
        parts.append(
            f"{int(failed.sum())} of {n} failed the post-check ({int(infeasible[failed].sum())} infeasible; "
            f"max {what} among them {float(cert[failed].max()):.2e} vs tol {tol:.1e})"
        )
    if overflow:
        parts.append(overflow)
    return f"{name}: " + "; ".join(parts)
