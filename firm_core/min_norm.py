"""The regularized min-norm subproblem at the heart of FIRM.

    lambda*(Q; beta, p) = argmin_{lambda in simplex} 0.5 lambda^T Q lambda + 0.5 beta ||lambda - p||^2,
    direction d = J^T lambda*,   Q = J J^T.

beta = 0 is MGDA; beta > 0 makes lambda* unique and (1/beta)-Lipschitz in Q; beta -> inf gives p.

:func:`solve_min_norm` reads as four steps: **prepare** (check the arguments, rescale every problem by
a power of two, fold the regularizer: :mod:`firm_core.solvers.problem`), **solve** (one kernel of
:mod:`firm_core.solvers` on the normalized Gram matrices), **certify** (feasibility repair and the
certificates recomputed in float64: :mod:`firm_core.solvers.certify`) and **assemble** (outputs in
the input's units and dtype; an answer that does not fit that dtype is reported NUMERICAL). Single
small problems take a shorter route with the same certificate (:mod:`firm_core.solvers.single`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from . import solvers
from .result import MinNormResult
from .solvers import certify
from .solvers.single import solve_single
from .solvers.problem import ScaledBatch, folding_matrix, normalization, normalized_gram, scale_gram, scale_jacobian
from .tolerances import DEFAULT_TOL
from .validation import check_beta, check_choice, check_positive_float, check_positive_int, check_preference

__all__ = ["EXACT_METHODS", "METHODS", "folding_matrix", "pareto_stationarity", "pick_method", "solve_min_norm"]

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

#: auto: in batches, vectorized support enumeration beats a loop of active-set solves up to this M;
#: a single problem goes to the active-set method (measured by benchmarks/bench_solvers.py).
AUTO_ENUMERATION_BATCH_MAX_M = 6

_WHERE = "solve_min_norm"
_NO_ERRSTATE = contextlib.nullcontext()


def pick_method(m: int, batch: int) -> str:
    """The fastest exact method for M objectives and a batch of ``batch`` problems (M = 1 is solved
    without a kernel; it reports the any-M exact method, which an explicit request also accepts)."""
    if m == 2:
        return "closed_form"
    if m == 1:
        return "active_set"
    return "enumeration" if batch > 1 and m <= AUTO_ENUMERATION_BATCH_MAX_M else "active_set"


@dataclass(frozen=True)
class _Prepared:
    """A checked, rescaled batch and the options of the solve."""

    batch: ScaledBatch
    beta: float
    p: np.ndarray
    c: np.ndarray  # (B,) Qn = c Qs + w P
    w: np.ndarray
    name: str  # the method that runs
    tol: float
    max_iter: int | None


def _prepare(jacobian, gram, beta, preference, method, tol, max_iter) -> _Prepared:
    """Check every argument, rescale the batch and pick the method (errors name the argument)."""
    if (jacobian is None) == (gram is None):
        got = "both" if jacobian is not None else "neither"
        raise ValueError(f"{_WHERE}: pass exactly one of `jacobian` or `gram`, got {got}")
    check_choice(method, "method", _WHERE, METHODS)
    tol = check_positive_float(tol, "tol", _WHERE)
    max_iter = check_positive_int(max_iter, "max_iter", _WHERE, allow_none=True)
    beta = check_beta(beta, _WHERE)
    batch = scale_jacobian(jacobian, _WHERE) if gram is None else scale_gram(gram, _WHERE)
    bsz, m, _ = batch.qs.shape
    p = check_preference(preference, m, _WHERE)
    name = pick_method(m, bsz) if method == "auto" else method
    if method == "closed_form" and m != 2:
        raise ValueError(f"{_WHERE}: method 'closed_form' needs M = 2 objectives, got M = {m}")
    if name == "enumeration" and m > solvers.ENUMERATION_MAX_M:
        raise ValueError(f"{_WHERE}: method 'enumeration' supports M <= {solvers.ENUMERATION_MAX_M}, got M = {m}")
    c, w = normalization(batch, beta)
    return _Prepared(batch, beta, p, c, w, name, tol, max_iter)


def _solve(prep: _Prepared) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(weights (B, M), iterations (B,), converged (B,)) from the method's kernel."""
    bsz, m, _ = prep.batch.qs.shape
    if bsz == 0 or m == 1:  # nothing to solve: lambda = [1] is exact (both certificates are 0)
        return np.ones((bsz, m)), np.ones(bsz, dtype=np.int64), np.ones(bsz, dtype=bool)
    qn = normalized_gram(prep.batch, prep.c, prep.w, prep.p, prep.beta)
    lam, iters, conv = _KERNELS[prep.name](qn, prep.p, tol=prep.tol, max_iter=prep.max_iter)
    if prep.name == "enumeration":  # certified fallback for near-singular supports
        g, _ = certify.relative_gradient(prep.batch.qs, prep.c, prep.w, prep.p, lam, prep.beta)
        bad = certify.certificates(g, lam)[0] > prep.tol + certify.ROUNDOFF_KKT
        if bad.any():
            lam[bad], it2, conv[bad] = solvers.solve_active_set(qn[bad], prep.p)
            iters[bad] += it2
    return lam, iters, conv


def _outputs(prep: _Prepared, lam: np.ndarray, qsl: np.ndarray):
    """(norm_sq, value, direction or None) in the input's units, float64, batch axis first;
    overflow to inf is left for the representability check."""
    b = prep.batch
    with np.errstate(over="ignore", under="ignore") if b.k.any() else _NO_ERRSTATE:
        direction = None
        if b.js is None:
            nsq = np.maximum((lam * qsl).sum(axis=-1), 0.0)
        else:  # ||J^T l||^2 from the direction: error eps |J| |d| instead of eps |Q| for l^T Q l
            ds = (lam[:, None, :] @ b.js)[:, 0, :]
            nsq = (ds * ds).sum(axis=-1)
            direction = np.ldexp(ds, b.k[:, None] // 2) if b.k.any() else ds
        norm_sq = np.ldexp(nsq, b.k) if b.k.any() else nsq
        value = 0.5 * norm_sq
        if prep.beta > 0:
            dev = lam - prep.p
            value = value + prep.beta * (0.5 * (dev * dev).sum(axis=-1))
    return norm_sq, value, direction


def _representable(norm_sq, value, direction, dtype) -> tuple[np.ndarray, str]:
    """Per problem: do value, norm_sq and direction fit ``dtype``? And a message naming what does not."""
    if dtype == np.float64 and np.isfinite(value).all() and np.isfinite(norm_sq).all():
        return np.ones(len(value), dtype=bool), ""  # (finite ||d||^2 implies a finite d)
    top = float(np.finfo(dtype).max)
    fields = {"value": value, "norm_sq": norm_sq}
    if direction is not None and (dtype != np.float64 or not np.isfinite(norm_sq).all()):
        # in float64 a finite ||d||^2 implies a finite d
        fields["direction"] = np.max(np.abs(direction), axis=-1, initial=0.0)
    bad = {k: ~(np.abs(v) <= top) for k, v in fields.items()}
    ok = ~np.logical_or.reduce(list(bad.values()))
    if ok.all():
        return ok, ""
    names = ", ".join(f"`{k}`" for k, v in bad.items() if v.any())
    return ok, (f"{int((~ok).sum())} of {len(ok)} have an answer that {np.dtype(dtype)} cannot represent ({names} "
                f"beyond {top:.3g}; the weights are certified): rescale the objectives")


@dataclass(frozen=True)
class _Certified:
    """The post-checked batch: repaired weights, certificates, outputs and per-problem status codes."""

    lam: np.ndarray
    kkt: np.ndarray
    gap: np.ndarray
    outputs: tuple  # (norm_sq, value, direction or None), input units, float64
    codes: np.ndarray
    message: str


def _certify(prep: _Prepared, lam, conv) -> _Certified:
    """Post-check: feasibility repair, certificates recomputed in float64, representability, statuses."""
    lam, infeasible = certify.repair_feasibility(lam, prep.p)
    g, qsl = certify.relative_gradient(prep.batch.qs, prep.c, prep.w, prep.p, lam, prep.beta)
    kkt, gap = certify.certificates(g, lam)
    cert = gap if prep.name == "frank_wolfe" else kkt
    outputs = _outputs(prep, lam, qsl)
    ok, overflow = _representable(*outputs, prep.batch.out_dtype)
    codes = certify.status_codes(conv, (cert <= prep.tol + certify.ROUNDOFF_KKT) & ~infeasible, ok)
    message = certify.message(prep.name, codes, cert, infeasible, prep.tol, overflow)
    return _Certified(lam, kkt, gap, outputs, codes, message)


def _assemble(prep: _Prepared, cert: _Certified, iters) -> MinNormResult:
    """The result in the input's batch shape and dtype."""
    b = prep.batch
    norm_sq, value, direction = cert.outputs

    def shaped(a, dtype=None):
        a = a.reshape(b.batch_shape + a.shape[1:])
        return a if dtype is None or a.dtype == dtype else a.astype(dtype)

    with np.errstate(over="ignore"):  # overflow in the output dtype is reported in the status
        return MinNormResult(
            weights=shaped(cert.lam, b.out_dtype),
            direction=None if direction is None else shaped(direction, b.out_dtype),
            value=shaped(value, b.out_dtype),
            norm_sq=shaped(norm_sq, b.out_dtype),
            kkt_residual=shaped(cert.kkt),
            gap=shaped(cert.gap),
            iterations=shaped(iters),
            status=certify.STATUS_BY_CODE[int(cert.codes.max(initial=0))],
            statuses=shaped(certify.STATUS_ARRAY[cert.codes]),
            message=cert.message,
            method=prep.name,
        )


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
    and a failed check downgrades the status with a message. Any finite input is solved at any
    scale (each problem is rescaled by a power of two first); when the answer (value, norm_sq or
    direction) does not fit the output dtype the status is NUMERICAL and the message says which.
    float32 input is solved in float64 and returned as float32; tensors are detached first.
    """
    fast = solve_single(jacobian, gram, beta, preference, method, tol, max_iter)
    if fast is not None:
        return fast
    prep = _prepare(jacobian, gram, beta, preference, method, tol, max_iter)
    lam, iters, conv = _solve(prep)
    return _assemble(prep, _certify(prep, lam, conv), iters)


def pareto_stationarity(jacobian=None, *, gram=None) -> np.ndarray:
    """phi = min_{lambda in simplex} ||J^T lambda||^2 (0 iff x is Pareto-stationary); batched."""
    res = solve_min_norm(jacobian, gram=gram, beta=0.0)
    return res.norm_sq
