"""How the property suite runs each min-norm method: its honest settings and the checks every answer passes.

Exact methods run at the default tol and must certify EXACT_KKT_TOL on every instance. The methods
that are inexact by design run at the tolerance and iteration cap below; they need not converge,
but their status must say truthfully whether they did, and every property is then checked with the
slack their own (recomputed) certificate allows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import firm_core as fc
from firm_core.tolerances import DEFAULT_TOL, EXACT_KKT_TOL
from firm_core.testing import asserts

#: Frank-Wolfe: stopping tolerance on its relative FW gap, and its iteration cap in the suite. Plain
#: FW converges at rate O(1/k) when the optimum lies on a face, so many instances end at MAX_ITER.
FW_TOL = 1e-10
FW_MAX_ITER = 2000
#: Projected gradient (FISTA + restart): tolerance on the relative KKT residual and its cap here.
PG_TOL = 1e-10
PG_MAX_ITER = 3000
#: cvxpy/Clarabel reaches about 1e-8 relative accuracy; we ask for its KKT residual at this level.
CVXPY_TOL = 1e-7


@dataclass(frozen=True)
class MethodSpec:
    name: str
    exact: bool
    certificate: str  # the method's own stopping certificate: "kkt" or "gap"
    tol: float
    max_iter: int | None
    example_share: float  # share of the hypothesis profile's max_examples spent per property
    m_min: int
    m_max: int

    def solve(self, *, jacobian=None, gram=None, beta=0.0, preference=None, **kw):
        kw = {"tol": self.tol, "max_iter": self.max_iter, **kw}
        return fc.solve_min_norm(jacobian, gram=gram, beta=beta, preference=preference, method=self.name, **kw)


SPECS = (
    MethodSpec("auto", True, "kkt", DEFAULT_TOL, None, 1.0, 2, 8),
    MethodSpec("closed_form", True, "kkt", DEFAULT_TOL, None, 1.0, 2, 2),
    MethodSpec("enumeration", True, "kkt", DEFAULT_TOL, None, 1.0, 2, 8),
    MethodSpec("active_set", True, "kkt", DEFAULT_TOL, None, 1.0, 2, 10),
    MethodSpec("frank_wolfe", False, "gap", FW_TOL, FW_MAX_ITER, 0.4, 2, 6),
    MethodSpec("projected_gradient", False, "kkt", PG_TOL, PG_MAX_ITER, 0.33, 2, 6),
    MethodSpec("cvxpy", False, "kkt", CVXPY_TOL, None, 0.13, 2, 6),
)
SPEC_BY_NAME = {s.name: s for s in SPECS}
assert set(SPEC_BY_NAME) == set(fc.METHODS), "the property suite must cover every method"


def check_answer(spec: MethodSpec, res, q, beta, p, *, jacobian=None) -> None:
    """Checks every single-problem answer passes: feasible, self-consistent, honest status;
    exact methods converged with relative KKT residual and FW gap <= EXACT_KKT_TOL."""
    asserts.assert_on_simplex(res.weights)
    cert = asserts.certificate(q, np.asarray(res.weights, dtype=np.float64), beta, p)
    asserts.assert_result_consistent(res, q, beta, p, jacobian=jacobian, cert=cert)
    asserts.assert_status_honest(res, q, beta, p, tol=spec.tol, certificate_name=spec.certificate, cert=cert)
    if spec.exact:
        assert res.status is fc.SolverStatus.CONVERGED, res.message
        asserts.assert_kkt(q, res.weights, beta, p, EXACT_KKT_TOL, cert=cert)


def solve_checked(spec: MethodSpec, q, beta, p, *, jacobian=None):
    """Solve from ``jacobian`` when given (else from ``q``), run :func:`check_answer`, return (weights, gap)."""
    if jacobian is not None:
        res = spec.solve(jacobian=jacobian, beta=beta, preference=p)
    else:
        res = spec.solve(gram=q, beta=beta, preference=p)
    check_answer(spec, res, q, beta, p, jacobian=jacobian)
    return np.asarray(res.weights, dtype=np.float64), float(res.gap)
