"""Prepare a batch of min-norm problems: check the input, rescale it exactly, fold the regularizer.

Every problem of the batch is rescaled by a power of two before anything is multiplied, so no
intermediate quantity overflows or underflows at any finite input scale:

    gram given:     Q = Qs 2^k          with max|Qs| in [1/2, 1)           (exact)
    jacobian given: J = Js 2^e, k = 2e  with max|Js| in [1/2, 1), Qs = Js Js^T (exact up to the
                    rounding of the product, which scaling by 2^-e does not change)

(k = e = 0, no rescaling pass, when every problem's largest entry is within 2^-400 ... 2^400.)

The solvers then see the normalized, folded Gram matrix (s = max|Q| + beta, P the folding matrix)

    Qn = (Q + beta P) / s = c Qs + w P,   c = 2^k / s,   w = beta / s,

with c and w computed from beta 2^-k so that neither Q nor beta P is ever formed in the original
units; the relative gradient of the certificates is g / s = c Qs l + w (l - p).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..validation import as_real_array, check_finite_array, check_gram


def folding_matrix(p: np.ndarray) -> np.ndarray:
    """P = (I - 1 p^T)(I - p 1^T) = I - 1 p^T - p 1^T + (p^T p) 1 1^T: on the simplex,
    lambda^T P lambda = ||lambda - p||^2, so Q + beta P folds the regularizer into the Gram matrix."""
    p = np.asarray(p, dtype=np.float64)
    return np.eye(len(p)) - p[None, :] - p[:, None] + p @ p


@functools.lru_cache(maxsize=64)
def cached_folding_matrix(p_bytes: bytes) -> np.ndarray:
    """:func:`folding_matrix` of the float64 vector with these bytes (cached and read-only)."""
    fold = folding_matrix(np.frombuffer(p_bytes, dtype=np.float64))
    fold.flags.writeable = False
    return fold


@dataclass(frozen=True)
class ScaledBatch:
    """B problems in exactly rescaled form (see the module docstring); arrays have a leading B axis."""

    qs: np.ndarray  # (B, M, M) Gram matrices divided by 2^k
    k: np.ndarray  # (B,) int: Q = qs 2^k
    js: np.ndarray | None  # (B, M, d) Jacobians divided by 2^(k/2), or None when a Gram matrix was given
    batch_shape: tuple  # leading axes of the input
    out_dtype: np.dtype  # results are returned in this dtype (float32 input stays float32)


def scale_jacobian(jacobian, where: str) -> ScaledBatch:
    """Check a (..., M, d) Jacobian (real, finite, M, d >= 1) and rescale it by powers of two."""
    jac, out_dtype = as_real_array(jacobian, "jacobian", where, min_ndim=2, copy=False, check_finite=False)
    if jac.shape[-2] == 0 or jac.shape[-1] == 0:
        raise ValueError(f"{where}: `jacobian` must have M >= 1 rows and d >= 1 columns, got shape {jac.shape}")
    m, d = jac.shape[-2:]
    jb = jac.reshape((-1, m, d))
    with np.errstate(over="ignore", invalid="ignore"):
        qs = jb @ np.swapaxes(jb, -1, -2)
    # max|Q| = max_m ||J_m||^2 per problem; NaN / inf in J (or an overflowing product) fail the range test
    top_q = np.max(np.diagonal(qs, axis1=-2, axis2=-1), axis=-1) if len(jb) else np.zeros(0)
    # (Q = 0 is not taken as safe: it may be a nonzero J whose products underflow)
    if _in_safe_range(top_q, 2 * SAFE_EXP, allow_zero=False):  # |J| <= 2^400: used as it is
        return ScaledBatch(qs=qs, k=np.zeros(len(jb), dtype=np.int64), js=jb, batch_shape=jac.shape[:-2],
                           out_dtype=out_dtype)
    check_finite_array(jac, "jacobian", where)
    e = np.frexp(np.max(np.abs(jb), axis=(-2, -1)))[1].astype(np.int64)
    js = np.ldexp(jb, -e[:, None, None])
    qs = js @ np.swapaxes(js, -1, -2)
    return ScaledBatch(qs=qs, k=2 * e, js=js, batch_shape=jac.shape[:-2], out_dtype=out_dtype)


#: A Jacobian whose largest row norm squared per problem lies in [2^-2 SAFE_EXP, 2^2 SAFE_EXP] (or is
#: 0), or a Gram matrix whose largest entry lies in [2^-SAFE_EXP, 2^SAFE_EXP], is used without
#: rescaling: every product stays far inside the float64 range, and whatever underflows is below
#: 2^-200 of the problem's scale (far below the certificates' resolution).
SAFE_EXP = 400


def _in_safe_range(top: np.ndarray, exp: int = SAFE_EXP, allow_zero: bool = True) -> bool:
    """Is every entry within [2^-exp, 2^exp] (or 0 when ``allow_zero``)? False for NaN and inf."""
    inside = (top >= 2.0**-exp) & (top <= 2.0**exp)
    return bool(np.all(inside | (top == 0) if allow_zero else inside))


def scale_gram(gram, where: str) -> ScaledBatch:
    """Check a (..., M, M) Gram matrix (real, finite, symmetric and PSD up to the rounding of its
    dtype) and rescale it by powers of two."""
    q, out_dtype = as_real_array(gram, "gram", where, min_ndim=2)
    q = check_gram(q, where, dtype=out_dtype)
    m = q.shape[-1]
    qb = q.reshape((-1, m, m))
    top = np.max(np.abs(qb), axis=(-2, -1)) if qb.shape[0] else np.zeros(0)
    if _in_safe_range(top):
        return ScaledBatch(qs=qb, k=np.zeros(len(top), dtype=np.int64), js=None, batch_shape=q.shape[:-2],
                           out_dtype=out_dtype)
    k = np.frexp(top)[1].astype(np.int64)
    return ScaledBatch(qs=np.ldexp(qb, -k[:, None, None]), k=k, js=None, batch_shape=q.shape[:-2],
                       out_dtype=out_dtype)


def normalization(batch: ScaledBatch, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """(c, w) per problem with Qn = c Qs + w P, c = 2^k / s, w = beta / s, s = max|Q| + beta.

    With b = beta 2^-k and a = max|Qs|: c = 1 / (a + b), w = b / (a + b). When a + b overflows
    (beta dwarfs Q by more than the float64 range) c < 1e-308 is taken as 0 and w as 1; when Q = 0
    and beta = 0 the problem is trivial and (c, w) = (1, 0).
    """
    a = np.max(np.abs(batch.qs), axis=(-2, -1)) if batch.qs.shape[0] else np.zeros(0)
    if beta == 0.0:
        return 1.0 / np.where(a > 0, a, 1.0), np.zeros_like(a)
    if not batch.k.any() and beta <= 2.0**SAFE_EXP:  # nothing can overflow: s = a + beta directly
        inv_s = 1.0 / (a + beta)
        return inv_s, beta * inv_s
    with np.errstate(over="ignore", under="ignore"):
        b = np.ldexp(beta, -batch.k)
        den = a + b
    huge = ~np.isfinite(den)
    safe = np.where(huge, 1.0, den)  # den > 0 since beta > 0
    return np.where(huge, 0.0, 1.0 / safe), np.where(huge, 1.0, b / safe)


def normalized_gram(batch: ScaledBatch, c: np.ndarray, w: np.ndarray, p: np.ndarray, beta: float) -> np.ndarray:
    """Qn = c Qs + w P per problem (B, M, M): the matrix every kernel solves on."""
    qn = batch.qs * c[:, None, None]
    if beta > 0:
        qn += w[:, None, None] * cached_folding_matrix(p.tobytes())
    return qn
