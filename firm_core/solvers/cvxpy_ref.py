"""Reference solver through cvxpy (optional extra ``firm[cvxpy]``)."""

from __future__ import annotations

import numpy as np


def _import_cvxpy():
    try:
        import cvxpy as cp
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("method='cvxpy' needs the optional extra: pip install 'firm[cvxpy]'") from exc
    return cp


def solve_cvxpy(qn: np.ndarray, p: np.ndarray, **_):
    """One conic solve per problem (Clarabel by default): min 0.5 l^T Q l s.t. l >= 0, 1^T l = 1."""
    cp = _import_cvxpy()
    bsz, m, _ = qn.shape
    weights = np.empty((bsz, m))
    iters = np.zeros(bsz, dtype=np.int64)
    converged = np.ones(bsz, dtype=bool)
    for k in range(bsz):
        lam = cp.Variable(m)
        prob = cp.Problem(cp.Minimize(0.5 * cp.quad_form(lam, cp.psd_wrap(qn[k]))), [lam >= 0, cp.sum(lam) == 1])
        try:
            prob.solve()
            ok = prob.status in ("optimal", "optimal_inaccurate") and lam.value is not None
        except cp.error.SolverError:
            ok = False
        weights[k] = np.asarray(lam.value) if ok else p
        converged[k] = ok
        stats = prob.solver_stats
        iters[k] = int(stats.num_iters) if ok and stats is not None and stats.num_iters is not None else 0
    return weights, iters, converged
