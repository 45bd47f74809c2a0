"""Proof that each checker can fail: feed it a deliberately wrong input built from a real run and
confirm that it reports the violation. Each function returns a CheckResult whose ``ok`` means "the
checker flagged the wrong input" (so a dead checker makes ``firm check-theory`` fail too).
"""

from __future__ import annotations

import numpy as np
from firm_core import theory as th

from .cells import CellSpec, chain_checks, check_mean_bound, run_cell
from .checks import CheckResult, check_bound, check_lemma0a, check_lemma0b, check_lemma0c, check_lemma1, check_nonincreasing, check_slope, check_weights_distance, gram
from .problem_constants import make_quadratics, problem_constants
from .trace import run_traced

#: A wrong bound is the true one times this (below the measured value whenever the ratio exceeds it).
WRONG_BOUND_FACTOR = 1e-3


def _flagged(name: str, result: CheckResult) -> CheckResult:
    return CheckResult(f"rejects {name}", not result.ok, result.ratio, result.count, result.worst, result.name)


def _perturb(lam: np.ndarray) -> np.ndarray:
    """Move every weight vector half-way to the vertex it weights least (stays on the simplex)."""
    e = np.zeros_like(lam)
    np.put_along_axis(e, np.argmin(lam, axis=-1)[..., None], 1.0, axis=-1)
    return 0.5 * lam + 0.5 * e


def liveness_checks() -> list[CheckResult]:
    """Every checker against a wrong bound, a perturbed lambda or a wrong constant."""
    problem = make_quadratics(num_clients=4, num_objectives=2, dim=10, heterogeneity=0.5, sigma=0.0, seed=0, x0_distance=3.0)
    c = problem_constants(problem)
    beta = 10.0
    tr = run_traced(problem, beta=beta, eta=0.5 / (c.L_phi * 3), eta_g=1.0, local_steps=3, rounds=20)
    p = tr.preference
    out = []
    # a too-small bound for an average
    measured = float(tr.phi[:-1].mean())
    wrong = WRONG_BOUND_FACTOR * th.federated_bound(th.BoundConstants(
        L=c.L, L_phi=c.L_phi, C=c.C, zeta=c.zeta, sigma=0.0, M=2, beta=beta, eta=tr.eta, eta_g=1.0, K=3, T=20, delta=c.delta)).value
    wrong = min(wrong, 0.5 * measured)
    out.append(_flagged("a too-small federated bound", check_bound("mean phi <= bound", measured, wrong)))
    # Theorem 1 cell with a too-small bound: rerun its check with the bound scaled down
    res = run_cell(CellSpec("liveness thm1", M=2, beta=1.0, T=30))
    out.append(_flagged("a too-small Theorem 1 bound", check_bound("Theorem 1", res.measured, 0.5 * res.measured)))
    # perturbed lambdas
    out.append(_flagged("a perturbed lambda_bar (Lemma 0(a))", check_lemma0a(tr.jac_server, _perturb(tr.lam_server), beta, p)))
    out.append(_flagged("a perturbed lambda (Lemma 0(b))", check_lemma0b(tr.jac_used, _perturb(tr.lam), beta, p)))
    out.append(_flagged("a perturbed lambda_bar (Lemma 0(c))", check_lemma0c(tr.jac_server, _perturb(tr.lam_server), tr.lam_mgda, beta, p)))
    qc = gram(tr.jac_used)
    qs = np.broadcast_to(gram(tr.jac_server[:-1])[:, None, None], qc.shape)
    ls = np.broadcast_to(tr.lam_server[:-1, None, None], tr.lam.shape)
    out.append(_flagged("a perturbed client lambda (Lemma 1)", check_lemma1(qc, qs, _perturb(tr.lam), ls, beta)))
    dist = np.linalg.norm(tr.lam - ls, axis=-1)
    out.append(_flagged("a too-small Lemma 2 bound", check_weights_distance("Lemma 2", tr.lam, ls, 0.5 * dist.max())))
    # one-round descent with a too-small L_phi, a-posteriori with a too-small bound
    small = problem_constants(problem)
    small = type(small)(**{**small.__dict__, "L_phi": 0.01 * small.mu_phi})
    chain, _ = chain_checks(tr, small)
    out.append(_flagged("a too-small L_phi (one-round descent)", chain[0]))
    # rate and beta story checkers
    T = np.array([10, 20, 40, 80])
    out.append(_flagged("a wrong rate (slope -1 data against -0.5)", check_slope("rate", T, 1.0 / T, -0.5, 0.1)))
    out.append(_flagged("an increasing D_lambda", check_nonincreasing("D_lambda", [1e-3, 1e-4, 2e-4])))
    # B4 (client-descent bound) with Delta and the heterogeneity far below the truth
    bc = th.BoundConstants(L=c.L, L_phi=c.L_phi, C=c.C, zeta=c.zeta, sigma=0.0, M=2, beta=beta, eta=tr.eta, eta_g=1.0, K=3, T=20,
                           delta=WRONG_BOUND_FACTOR * c.delta, zeta_p=0.0, zeta_f=0.0)
    out.append(_flagged("B4 with a too-small Delta and zeta_p = zeta_f = 0", check_bound("B4", measured, th.bound_b4(bc).value)))
    # an expectation bound between the mean and the upper confidence end must fail (the interval, not the mean, decides)
    samples = np.random.default_rng(0).normal(1.0, 0.5, size=30)
    out.append(_flagged("an expectation bound inside the confidence interval", check_mean_bound("E", samples, samples.mean() * 1.01)))
    # a fixed-point offset bound that is too small
    g = float(np.linalg.norm(p @ problem.jacobian(tr.x[-1])))
    out.append(_flagged("a too-small fixed-point gradient bound", check_bound("g_inf", g, 0.5 * g)))
    return out
