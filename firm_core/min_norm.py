"""The regularized min-norm subproblem at the heart of FIRM.

    lambda*(Q; beta, p) = argmin_{lambda in simplex} 0.5 lambda^T Q lambda + 0.5 beta ||lambda - p||^2,
    direction d = J^T lambda*,   Q = J J^T.

beta = 0 is MGDA; beta > 0 makes lambda* unique and (1/beta)-Lipschitz in Q; beta -> inf gives p.
"""

from __future__ import annotations

import functools

import numpy as np

from . import solvers
from ._validate import (
    as_real_array,
    check_beta,
    check_finite_array,
    check_gram,
    check_positive_float,
    check_positive_int,
    check_preference,
)
from .result import MinNormResult, SolverStatus
from .simplex import _project_simplex
from .tolerances import DEFAULT_TOL, SIMPLEX_FEASIBILITY_TOL

#: Round-off slack of the post-check: recomputing a certificate in another (equivalent) formula moves
#: it by a few ulps of the normalized problem, so the post-check accepts ``cert <= tol + ROUNDOFF_KKT``.
ROUNDOFF_KKT = 1e3 * np.finfo(np.float64).eps

_KERNELS = {
    "closed_form": solvers.solve_closed_form,
    "enumeration": solvers.solve_enumeration,
    "active_set": solvers.solve_active_set,
    "frank_wolfe": solvers.solve_frank_wolfe,
    "projected_gradient": solvers.solve_projected_gradient,
    "cvxpy": solvers.solve_cvxpy,
}
#: Methods that are exact up to round-off (their answer is certified to EXACT_KKT_TOL).
EXACT_METHODS = ("closed_form", "enumeration", "active_set")
METHODS = ("auto", *_KERNELS)

#: auto: in batches, vectorized support enumeration beats a loop of NNLS solves up to this M; a single
#: problem goes to NNLS (measured by benchmarks/bench_solvers.py).
AUTO_ENUMERATION_BATCH_MAX_M = 6


def folding_matrix(p: np.ndarray) -> np.ndarray:
    """P = (I - 1 p^T)(I - p 1^T) = I - 1 p^T - p 1^T + (p^T p) 1 1^T: on the simplex,
    lambda^T P lambda = ||lambda - p||^2, so Q + beta P folds the regularizer into the Gram matrix."""
    p = np.asarray(p, dtype=np.float64)
    return np.eye(len(p)) - p[None, :] - p[:, None] + p @ p


@functools.lru_cache(maxsize=64)
def _cached_folding_matrix(p_bytes: bytes) -> np.ndarray:
    """:func:`folding_matrix` of the float64 vector with these bytes (cached and read-only)."""
    fold = folding_matrix(np.frombuffer(p_bytes, dtype=np.float64))
    fold.flags.writeable = False
    return fold


def folded_gram(q: np.ndarray, beta: float, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (Q' / s, s) with Q' = Q + beta P and s = max|Q| + beta (per problem, > 0)."""
    s = np.abs(q).max(axis=(-2, -1)) + beta
    s[s <= 0] = 1.0
    qf = q + beta * _cached_folding_matrix(p.tobytes()) if beta > 0 else q
    return qf / s[..., None, None], s


def pick_method(m: int, batch: int) -> str:
    """The fastest exact method for M objectives and a batch of ``batch`` problems (M = 1 is solved
    without a kernel; it reports the any-M exact method, which an explicit request also accepts)."""
    if m == 2:
        return "closed_form"
    if m == 1:
        return "active_set"
    return "enumeration" if batch > 1 and m <= AUTO_ENUMERATION_BATCH_MAX_M else "active_set"


def certificates(q, lam, beta, p, s):
    """Relative KKT residual ||l - Proj(l - g/s)|| and relative FW gap (g^T l - min g)/s,
    g = Q l + beta (l - p)."""
    return certificates_at((q @ lam[..., None])[..., 0], lam, beta, p, s)


def certificates_at(ql, lam, beta, p, s):
    """:func:`certificates` given ``ql = Q l`` (the caller reuses it for ``norm_sq``)."""
    g = (ql + beta * (lam - p) if beta > 0 else ql) / s[..., None]
    r = lam - _project_simplex(lam - g)
    kkt = np.sqrt((r * r).sum(axis=-1))
    gap = (g * lam).sum(axis=-1) - g.min(axis=-1)
    return kkt, np.maximum(gap, 0.0)


def repair_feasibility(lam: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (max(l, 0) / sum max(l, 0), infeasible), rows with non-finite entries or with no positive
    entry replaced by p; ``infeasible`` flags those rows and any with min l < -tol or |1^T l - 1| > tol M
    (tol = SIMPLEX_FEASIBILITY_TOL)."""
    m = lam.shape[-1]
    all_finite = bool(np.isfinite(lam).all())
    if not all_finite:
        finite = np.isfinite(lam).all(axis=-1)
        lam = np.where(finite[:, None], lam, p)
    infeasible = (lam.min(axis=-1, initial=0.0) < -SIMPLEX_FEASIBILITY_TOL) | (
        np.abs(lam.sum(axis=-1) - 1.0) > SIMPLEX_FEASIBILITY_TOL * m
    )
    if not all_finite:
        infeasible |= ~finite
    lam = np.maximum(lam, 0.0)
    total = lam.sum(axis=-1, keepdims=True)
    empty = total[:, 0] <= 0  # no positive weight left (already flagged: its sum is not 1)
    if empty.any():
        lam[empty], total[empty] = p, 1.0
    lam /= total
    return lam, infeasible


def status_codes(converged: np.ndarray, checked: np.ndarray) -> np.ndarray:
    """Per problem: 0 converged and post-check passed, 1 iteration cap, 2 post-check failed."""
    if converged.all():
        return np.where(checked, 0, 2)
    return np.where(converged, np.where(checked, 0, 2), 1)


def solve_min_norm(
    jacobian=None,
    *,
    gram=None,
    beta: float = 0.0,
    preference=None,
    method: str = "auto",
    tol: float = DEFAULT_TOL,
    max_iter: int | None = None,
) -> MinNormResult:
    """Solve the regularized min-norm problem, batched over leading axes.

    Pass exactly one of ``jacobian`` (..., M, d) (one row per objective) or ``gram`` (..., M, M).
    ``beta >= 0``; ``preference`` a probability vector of length M (uniform when None). ``method`` is
    one of :data:`METHODS`; ``"auto"`` picks the fastest exact one. ``tol`` is the stopping tolerance
    of each method's own certificate (relative KKT residual; the FW gap for ``"frank_wolfe"``).

    Every answer is re-checked: simplex feasibility and the certificate are recomputed in float64
    and a failed check downgrades the status with a message. float32 input is solved in float64 and
    returned as float32. A finite ``jacobian`` whose Gram matrix overflows float64 is reported NUMERICAL
    (with a message saying so) rather than raising.
    """
    where = "solve_min_norm"
    if (jacobian is None) == (gram is None):
        got = "both" if jacobian is not None else "neither"
        raise ValueError(f"{where}: pass exactly one of `jacobian` or `gram`, got {got}")
    if method not in METHODS:
        raise ValueError(f"{where}: `method` must be one of {METHODS}, got {method!r}")
    tol = check_positive_float(tol, "tol", where)
    max_iter = check_positive_int(max_iter, "max_iter", where, allow_none=True)
    beta = check_beta(beta, where)

    jac = None
    gram_overflow = False
    if jacobian is not None:
        jac, out_dtype = as_real_array(jacobian, "jacobian", where, min_ndim=2, copy=False, check_finite=False)
        if jac.shape[-2] == 0 or jac.shape[-1] == 0:
            raise ValueError(f"{where}: `jacobian` must have M >= 1 rows and d >= 1 columns, got shape {jac.shape}")
        q = jac @ np.swapaxes(jac, -1, -2)
        # J is finite iff every diag(Q) = ||J_m||^2 is (NaN/inf propagate); an overflowing but finite J
        # fails only the cheap test, passes the full check, and is handled below (gram_overflow).
        if not np.isfinite(np.diagonal(q, axis1=-2, axis2=-1)).all():
            check_finite_array(jac, "jacobian", where)
            gram_overflow = True
    else:
        q, out_dtype = as_real_array(gram, "gram", where, min_ndim=2)
        q = check_gram(q, where)
    m = q.shape[-1]
    p = check_preference(preference, m, where)
    batch_shape = q.shape[:-2]
    qb = q.reshape((-1, m, m))
    bsz = qb.shape[0]
    # finite J whose Gram J J^T overflows float64: no certificate can be computed for these problems
    overflow = ~np.isfinite(qb).all(axis=(-2, -1)) if gram_overflow else None

    name = pick_method(m, bsz) if method == "auto" else method
    if method == "closed_form" and m != 2:
        raise ValueError(f"{where}: method 'closed_form' needs M = 2 objectives, got M = {m}")
    if name == "enumeration" and m > solvers.ENUMERATION_MAX_M:
        raise ValueError(f"{where}: method 'enumeration' supports M <= {solvers.ENUMERATION_MAX_M}, got M = {m}")

    if bsz == 0:
        lam, iters, conv = np.empty((0, m)), np.empty(0, dtype=np.int64), np.empty(0, dtype=bool)
        s = np.empty(0)
    elif m == 1:
        lam, iters, conv = np.ones((bsz, 1)), np.ones(bsz, dtype=np.int64), np.ones(bsz, dtype=bool)
        s = np.ones(bsz)  # lambda = [1]: both certificates are exactly 0 whatever the scale
    else:
        qn, s = folded_gram(qb, beta, p)
        if overflow is not None:  # solved as J = 0 so no kernel sees inf; the post-check marks them NUMERICAL
            qn[overflow] = 0.0
        lam, iters, conv = _KERNELS[name](qn, p, tol=tol, max_iter=max_iter)
        if name == "enumeration":  # certified fallback for near-singular supports
            kkt, _ = certificates(qb, lam, beta, p, s)
            bad = kkt > tol + ROUNDOFF_KKT
            if bad.any():
                lam[bad], it2, conv[bad] = solvers.solve_active_set(qn[bad], p)
                iters[bad] += it2
            del kkt

    # Post-check: feasibility repair within round-off, then certificates recomputed in float64.
    lam, infeasible = repair_feasibility(lam, p)
    ql = (qb @ lam[:, :, None])[:, :, 0]
    kkt, gap = certificates_at(ql, lam, beta, p, s)
    cert = gap if name == "frank_wolfe" else kkt
    cert_ok = cert <= tol + ROUNDOFF_KKT  # the kernel's own check, up to round-off of recomputing it

    codes = status_codes(conv, cert_ok & ~infeasible)
    worst = _STATUS_BY_CODE[int(codes.max(initial=0))]
    message = _message(worst, name, codes, cert, infeasible, tol)
    if overflow is not None and overflow.any():
        message += (f"; {int(overflow.sum())} of {bsz} have a Gram matrix J J^T that overflows float64 "
                    f"(max |J| = {float(np.abs(jac).max()):.3g}): rescale the objectives")

    norm_sq = np.maximum((lam * ql).sum(axis=-1), 0.0)
    value = 0.5 * norm_sq
    if beta > 0:
        dev = lam - p
        value += 0.5 * beta * (dev * dev).sum(axis=-1)
    direction = None
    if jac is not None:
        direction = (lam.reshape(batch_shape + (1, m)) @ jac)[..., 0, :].astype(out_dtype, copy=False)

    def shaped(a, dtype=None):
        a = a.reshape(batch_shape + a.shape[1:])
        return a if dtype is None or a.dtype == dtype else a.astype(dtype)

    return MinNormResult(
        weights=shaped(lam, out_dtype),
        direction=direction,
        value=shaped(value, out_dtype),
        norm_sq=shaped(norm_sq, out_dtype),
        kkt_residual=shaped(kkt),
        gap=shaped(gap),
        iterations=shaped(iters),
        status=worst,
        statuses=shaped(_STATUS_ARRAY[codes]),
        message=message,
        method=name,
    )


_STATUS_BY_CODE = (SolverStatus.CONVERGED, SolverStatus.MAX_ITER, SolverStatus.NUMERICAL)
_STATUS_ARRAY = np.array(_STATUS_BY_CODE, dtype=object)


def _message(worst, name, codes, cert, infeasible, tol) -> str:
    n = len(codes)
    what = "FW gap" if name == "frank_wolfe" else "relative KKT residual"
    if worst is SolverStatus.CONVERGED:
        top = float(cert.max()) if n else 0.0
        return f"{name}: converged on {n} problem(s); max {what} {top:.2e} <= tol {tol:.1e}"
    parts = []
    n_iter = int(np.count_nonzero(codes == 1))
    if n_iter:
        parts.append(f"{n_iter} of {n} hit the iteration cap")
    failed = codes == 2
    if failed.any():
        parts.append(
            f"{int(failed.sum())} of {n} failed the post-check ({int(infeasible[failed].sum())} infeasible; "
            f"max {what} among them {float(cert[failed].max()):.2e} vs tol {tol:.1e})"
        )
    return f"{name}: " + "; ".join(parts)


def pareto_stationarity(jacobian=None, *, gram=None) -> np.ndarray:
    """phi = min_{lambda in simplex} ||J^T lambda||^2 (0 iff x is Pareto-stationary); batched."""
    res = solve_min_norm(jacobian, gram=gram, beta=0.0)
    return res.norm_sq
