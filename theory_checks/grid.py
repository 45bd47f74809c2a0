"""The grids of ``firm check-theory``: Theorem 1 cells (N = K = 1, sigma = 0; their tightness is reported as a statistic on the
quadratics), federated cells over (eta, K, N, beta, sigma, heterogeneity, eta_g), nonconvex
Cauchy-regression cells with global constants, and cells with non-uniform client weights and partial
participation. Stochastic and sampled cells run MIN_SEEDS seeds. ``quick`` is a subset with fewer
rounds and seeds (it runs in the tests)."""

from __future__ import annotations

from .cells import CellSpec
from .tolerances import MIN_SEEDS

# Theorem 1: x_0 far from the Pareto set (x0_distance 10), so that most of Delta is spent where the
# gradients agree; gamma_rel = gamma L_phi (1 = the bound-optimal step).
THEOREM1_CELLS = (
    CellSpec("thm1 MGDA (beta=0)", M=2, beta=0.0),
    CellSpec("thm1 beta=1", M=2, beta=1.0),
    CellSpec("thm1 M=3 beta=0.1", M=3, beta=0.1),
    CellSpec("thm1 beta=100", M=2, beta=100.0),
    CellSpec("thm1 gamma=1.5/L_phi", M=2, beta=1.0, gamma_rel=1.5),
    CellSpec("thm1 eta_g=2", M=2, beta=1.0, eta_g=2.0),
    CellSpec("thm1 identity curvature", M=2, beta=1.0, curvature="identity"),
    CellSpec("thm1 curvature [1.5, 2]", M=3, beta=1.0, curvature_range=(1.5, 2.0)),
    CellSpec("thm1 M=3 problem seed 6", M=3, beta=1.0, problem_seed=6),  # a looser instance (ratio < 0.5): no theorem says >= 0.5
)

_F = dict(x0_distance=3.0, T=200)
FEDERATED_CELLS = (
    CellSpec("fed N=4 K=1 beta=10", N=4, K=1, beta=10.0, heterogeneity=0.5, gamma_rel=0.5, **_F),
    CellSpec("fed N=4 K=5 beta=10", N=4, K=5, beta=10.0, heterogeneity=0.5, gamma_rel=0.5, **_F),
    CellSpec("fed hi-het K=5 beta=1e3", N=4, K=5, beta=1e3, heterogeneity=2.0, gamma_rel=0.3, **_F),
    CellSpec("fed M=3 N=8 K=10 beta=1e4", M=3, N=8, K=10, beta=1e4, heterogeneity=2.0, gamma_rel=0.3, **_F),
    CellSpec("fed eta_g=2 beta=100", N=4, K=5, beta=100.0, heterogeneity=0.5, gamma_rel=0.5, eta_g=2.0, **_F),
    CellSpec("fed hi-het beta=0.01", N=4, K=5, beta=0.01, heterogeneity=2.0, gamma_rel=0.3, **_F),
    CellSpec("fed local-MGDA beta=0", N=4, K=5, beta=0.0, heterogeneity=0.5, gamma_rel=0.3, **_F),
    CellSpec("fed small step beta=1e4", N=4, K=5, beta=1e4, heterogeneity=0.5, gamma_rel=0.05, **_F),
)

_S = dict(x0_distance=3.0, T=60, seeds=MIN_SEEDS)
STOCHASTIC_CELLS = (
    CellSpec("sto N=1 K=1 beta=10", N=1, K=1, beta=10.0, sigma=0.5, gamma_rel=0.2, **_S),
    CellSpec("sto N=4 K=5 beta=100", N=4, K=5, beta=100.0, sigma=0.5, heterogeneity=0.5, gamma_rel=0.5, **_S),
    CellSpec("sto M=3 N=8 K=5 beta=1e3", M=3, N=8, K=5, beta=1e3, sigma=1.0, heterogeneity=2.0, gamma_rel=0.3, **_S),
    CellSpec("sto small step beta=1e4", N=4, K=5, beta=1e4, sigma=0.1, heterogeneity=0.5, gamma_rel=0.05, **_S),
)

# Nonconvex Cauchy-loss regression: constants hold on all of R^d, so these cells (noisy ones included)
# are certificates; x0_distance is the scale of x_0. Theorem 1 tightness is not claimed here.
_C = dict(problem="cauchy", x0_distance=3.0)
CAUCHY_CELLS = (
    CellSpec("cauchy thm1 MGDA (beta=0)", M=2, beta=0.0, T=100, **_C),
    CellSpec("cauchy thm1 M=3 beta=1", M=3, beta=1.0, T=100, **_C),
    CellSpec("cauchy fed N=4 K=5 beta=10", N=4, K=5, beta=10.0, heterogeneity=0.5, gamma_rel=0.5, T=150, **_C),
    CellSpec("cauchy fed M=3 N=8 K=5 beta=1e3", M=3, N=8, K=5, beta=1e3, heterogeneity=2.0, gamma_rel=0.3, T=150, **_C),
    CellSpec("cauchy fed small step beta=1e4", N=4, K=5, beta=1e4, heterogeneity=0.5, gamma_rel=0.05, T=150, **_C),
    CellSpec("cauchy sto N=4 K=5 beta=100", N=4, K=5, beta=100.0, sigma=0.3, heterogeneity=0.5, gamma_rel=0.3, T=60, seeds=MIN_SEEDS, **_C),
)

# Non-uniform client weights and partial participation (S of N clients drawn per round with replacement,
# probabilities w, aggregation weights counts / S): a bug in the weighting or the sampling changes these answers.
_W = (0.55, 0.25, 0.15, 0.05)
WEIGHTED_CELLS = (
    CellSpec("weighted N=4 K=5 beta=100", N=4, K=5, beta=100.0, heterogeneity=0.5, gamma_rel=0.3, weights=_W, **_F),
    CellSpec("weighted N=4 K=1 beta=1e4", N=4, K=1, beta=1e4, heterogeneity=0.5, gamma_rel=0.5, weights=_W, **_F),
    CellSpec("partial S=2 of 4 weighted K=5 beta=100", N=4, K=5, beta=100.0, heterogeneity=0.5, gamma_rel=0.3, weights=_W,
             participation=2, x0_distance=3.0, T=60, seeds=MIN_SEEDS),
    CellSpec("partial S=4 of 8 K=3 beta=1e3", N=8, K=3, beta=1e3, heterogeneity=0.5, gamma_rel=0.3, participation=4,
             x0_distance=3.0, T=60, seeds=MIN_SEEDS),
)


def one_factor_sweep() -> tuple[CellSpec, ...]:
    """Around a base cell, vary one of (eta, K, N, beta, sigma, heterogeneity, eta_g) at a time."""
    base = dict(M=2, N=4, K=5, beta=10.0, sigma=0.0, heterogeneity=0.5, gamma_rel=0.3, eta_g=1.0, T=150, x0_distance=3.0)
    variations = [("gamma_rel", 0.05), ("gamma_rel", 1.0), ("K", 1), ("K", 10), ("N", 2), ("N", 8),
                  ("beta", 0.0), ("beta", 0.1), ("beta", 1e3), ("beta", 1e5), ("sigma", 0.3), ("sigma", 1.0),
                  ("heterogeneity", 0.0), ("heterogeneity", 2.0), ("eta_g", 0.5), ("eta_g", 2.0)]
    out = []
    for key, value in variations:
        kw = {**base, key: value}
        if key == "sigma":
            kw.update(seeds=MIN_SEEDS, T=60)
        label = {"gamma_rel": "gamma L_phi", "heterogeneity": "h"}.get(key, key)
        out.append(CellSpec(f"sweep {label}={value:g}", **kw))
    return tuple(out)


SWEEP_CELLS = one_factor_sweep()

DEFAULT_GRID = THEOREM1_CELLS + FEDERATED_CELLS + STOCHASTIC_CELLS + CAUCHY_CELLS + WEIGHTED_CELLS + SWEEP_CELLS

QUICK_GRID = (
    CellSpec("thm1 MGDA (beta=0)", M=2, beta=0.0, T=60),
    CellSpec("thm1 M=3 beta=0.1", M=3, beta=0.1, T=60),
    CellSpec("fed N=4 K=3 beta=10", N=4, K=3, beta=10.0, heterogeneity=0.5, gamma_rel=0.5, x0_distance=3.0, T=60),
    CellSpec("sto N=3 K=2 beta=100", N=3, K=2, beta=100.0, sigma=0.5, heterogeneity=0.5, gamma_rel=0.5, x0_distance=3.0, T=8, seeds=MIN_SEEDS),
    CellSpec("partial S=2 of 4 weighted K=1", N=4, K=1, beta=1e4, heterogeneity=0.5, gamma_rel=0.5, weights=_W, participation=2,
             x0_distance=3.0, T=8, seeds=MIN_SEEDS),
    CellSpec("cauchy fed N=4 K=3 beta=10", N=4, K=3, beta=10.0, heterogeneity=0.5, gamma_rel=0.5, T=40, problem="cauchy", x0_distance=3.0),
)

#: T values of the rate checks (Theorem 1: prefix means of one run; corollary: one run per T).
RATE_T = {"default": ((50, 100, 200, 400), (100, 200, 400, 800)), "quick": ((25, 50, 100, 200), (50, 100, 200))}

#: beta grids of the beta story (D_lambda; phi at the fixed point).
BETA_STORY = {
    "default": dict(betas=(0.0, 1e-2, 1e-1, 1.0, 10.0, 1e2, 1e3, 1e4), fp_betas=(0.0, 1e3, 1e4, 1e5), rounds=60),
    "quick": dict(betas=(0.0, 1.0, 1e2, 1e4), fp_betas=(0.0, 1e3, 1e4, 1e5), rounds=20, N=4),
}

#: Where FIRM ends: T values of the one-client limit, (beta, K) of the fixed-point offsets, preferences swept.
LIMITS = {
    "default": dict(T_values=(5, 10, 20, 40), betas=(1e2, 1e3, 1e4, 1e5), K_values=(1, 5), prefs=(0.1, 0.3, 0.5, 0.7, 0.9)),
    "quick": dict(T_values=(5, 10, 20), betas=(1e4, 1e5), K_values=(1, 3), prefs=(0.2, 0.8)),
}
