"""Matrix samplers: Jacobians of known rank and known Pareto stationarity, for testing min-norm solvers.

Every sampler is a pure function of a ``numpy.random.Generator`` and returns an `Instance`
whose facts (rank, whether 0 is in the convex hull of the rows, the exact or a lower bound on
phi = min_{l in simplex} ||J^T l||^2, a known minimizer) hold *by construction*, independently of any
solver. `firm_core.testing.strategies` draws (J, beta, p) from these families with hypothesis;
`one_of_each` gives one instance per family, to pin every family into every property.

Families
--------
gaussian            i.i.d. N(0, 1) rows.
low_rank            J = U V with U (M, r), V (r, d): rank exactly r < min(M, d) (almost surely).
row_scaled          rows scaled by 10^U(-4, 4): ill-conditioned Gram, one scale per objective.
near_collinear      rows g + 1e-7 N(0, 1): the curvature a - 2b + c of the M = 2 problem cancels.
stationary_shift    J - 1 w^T J for a random w in the simplex: 0 = w^T J is in the hull, w a minimizer.
stationary_opposite rows 0 and 1 are g and -c g (c > 0): 0 = (c e_0 + e_1)^T J / (1 + c) is in the hull.
known_min_norm      rows d* + v_m with v_m orthogonal to d* and 0 in the hull of the v_m:
                    phi = ||d*||^2 exactly, and 0 is not in the hull.
halfspace           every row has g_m . u >= delta for a unit u: 0 is not in the hull, phi >= delta^2.
duplicate_rows      row 1 equals row 0.
opposite_rows       row 1 equals -row 0 (so 0 is in the hull).
one_column          d = 1.
zero                J = 0.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

#: Relative size of the perturbation in the near_collinear family.
NEAR_COLLINEAR_EPS = 1e-7
#: Row scales of row_scaled are 10^U(-ROW_SCALE_DECADES, ROW_SCALE_DECADES).
ROW_SCALE_DECADES = 4.0
#: Overall scales every family is tried at: from 1e-12 to 1e12.
SCALES = (1e-12, 1e-6, 1.0, 1e6, 1e12)
#: beta is drawn as beta_rel * max|Q|, with beta_rel from here (0 = MGDA).
BETA_REL = (0.0, 1e-3, 1e-1, 1.0, 10.0)


@dataclass(frozen=True)
class Instance:
    """One min-norm problem with the facts known by construction.

    ``stationary``: whether 0 is in the convex hull of the rows (None: not known).
    ``phi``: exact phi when known; ``phi_lower``: a lower bound on phi (0 when nothing better is known).
    ``minimizer``: a known minimizer of phi on the simplex (None when not known).
    ``rank``: rank of J (None when not known by construction).
    """

    family: str
    jacobian: np.ndarray
    beta: float = 0.0
    preference: np.ndarray | None = None
    stationary: bool | None = None
    phi: float | None = None
    phi_lower: float = 0.0
    minimizer: np.ndarray | None = None
    rank: int | None = None

    @property
    def gram(self) -> np.ndarray:
        return self.jacobian @ self.jacobian.T

    @property
    def m(self) -> int:
        return self.jacobian.shape[0]

    @property
    def p(self) -> np.ndarray:
        """The preference actually used (uniform when None)."""
        return self.preference if self.preference is not None else np.full(self.m, 1.0 / self.m)

    def scaled(self, c: float) -> Instance:
        """J -> c J, beta -> c^2 beta: Q and beta scale together, so lambda is unchanged."""
        return replace(
            self,
            jacobian=c * self.jacobian,
            beta=c**2 * self.beta,
            phi=None if self.phi is None else c**2 * self.phi,
            phi_lower=c**2 * self.phi_lower,
        )

    def with_beta_rel(self, beta_rel: float) -> Instance:
        """Set beta = beta_rel * max|Q| (beta_rel * 1 when Q = 0)."""
        scale = float(np.max(np.abs(self.gram))) if self.jacobian.size else 0.0
        return replace(self, beta=beta_rel * (scale if scale > 0 else 1.0))


def random_simplex_point(rng: np.random.Generator, m: int, *, support: int | None = None) -> np.ndarray:
    """A Dirichlet(1) point supported on ``support`` random coordinates (all when None)."""
    k = m if support is None else support
    w = np.zeros(m)
    idx = rng.choice(m, size=k, replace=False)
    w[idx] = rng.dirichlet(np.ones(k))
    return w


def gaussian(rng, m, d) -> Instance:
    """i.i.d. N(0, 1) entries; rank min(M, d) almost surely."""
    return Instance("gaussian", rng.standard_normal((m, d)), rank=min(m, d))


def low_rank(rng, m, d) -> Instance:
    """J = U V with U (M, r), V (r, d): rank exactly r < min(M, d) (almost surely; r = 1 when min(M, d) = 1)."""
    r = max(1, min(m, d) - 1 - int(rng.integers(0, max(1, min(m, d) - 1))))
    jac = rng.standard_normal((m, r)) @ rng.standard_normal((r, d))
    return Instance("low_rank", jac, rank=r if min(m, d) > 1 else 1)


def row_scaled(rng, m, d) -> Instance:
    """Gaussian rows scaled by 10^U(-4, 4): an ill-conditioned Gram, one scale per objective."""
    scales = 10.0 ** rng.uniform(-ROW_SCALE_DECADES, ROW_SCALE_DECADES, size=(m, 1))
    return Instance("row_scaled", scales * rng.standard_normal((m, d)), rank=min(m, d))


def near_collinear(rng, m, d) -> Instance:
    """Rows g + 1e-7 N(0, 1): the M = 2 curvature a - 2b + c nearly cancels."""
    g = rng.standard_normal(d)
    return Instance("near_collinear", g + NEAR_COLLINEAR_EPS * rng.standard_normal((m, d)))


def stationary_shift(rng, m, d) -> Instance:
    """0 in the hull, built by centring: J - 1 (w^T J), so w^T J' = 0 and phi = 0 at w."""
    w = random_simplex_point(rng, m, support=int(rng.integers(1, m + 1)))
    jac = rng.standard_normal((m, d))
    jac = jac - np.outer(np.ones(m), w @ jac)
    if np.count_nonzero(w) == 1:  # the row at the vertex is 0; make it exactly 0, not round-off
        jac[np.flatnonzero(w)[0]] = 0.0
    return Instance("stationary_shift", jac, stationary=True, phi=0.0, minimizer=w)


def stationary_opposite(rng, m, d) -> Instance:
    """0 in the hull, built from an opposite pair g, -c g: (c e_0 + e_1) / (1 + c) is a minimizer."""
    jac = rng.standard_normal((m, d))
    c = float(10.0 ** rng.uniform(-1, 1))
    jac[1] = -c * jac[0]
    w = np.zeros(m)
    w[0], w[1] = c / (1 + c), 1 / (1 + c)
    return Instance("stationary_opposite", jac, stationary=True, phi=0.0, minimizer=w)


def known_min_norm(rng, m, d) -> Instance:
    """0 not in the hull, phi known exactly: rows d* + v_m, v_m orthogonal to d*, w^T V = 0.

    For l in the simplex ||J^T l||^2 = ||d*||^2 + ||V^T l||^2 >= ||d*||^2, with equality at w.
    Needs d >= 2 (the v_m live in the complement of d*); at d = 1 we take V = 0.
    """
    dstar = rng.standard_normal(d)
    dstar *= float(10.0 ** rng.uniform(-1, 0)) / np.linalg.norm(dstar)
    w = random_simplex_point(rng, m, support=int(rng.integers(1, m + 1)))
    v = rng.standard_normal((m, d))
    v = v - np.outer(np.ones(m), w @ v)
    u = dstar / np.linalg.norm(dstar)
    v = v - np.outer(v @ u, u)
    jac = dstar + v
    phi = float(dstar @ dstar)
    return Instance("known_min_norm", jac, stationary=False, phi=phi, phi_lower=phi, minimizer=w)


def halfspace(rng, m, d) -> Instance:
    """0 not in the hull, built by a separating direction: g_m . u >= delta, so phi >= delta^2."""
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    jac = rng.standard_normal((m, d))
    delta = float(rng.uniform(0.1, 1.0))
    shift = np.maximum(delta - jac @ u, 0.0)
    jac = jac + np.outer(shift, u)
    return Instance("halfspace", jac, stationary=False, phi_lower=delta**2)


def duplicate_rows(rng, m, d) -> Instance:
    """Row 1 equals row 0 (needs M >= 2)."""
    jac = rng.standard_normal((m, d))
    jac[1] = jac[0]
    return Instance("duplicate_rows", jac)


def opposite_rows(rng, m, d) -> Instance:
    """Row 1 equals -row 0 (needs M >= 2): 0 = (e_0 + e_1)^T J / 2 is in the hull."""
    jac = rng.standard_normal((m, d))
    jac[1] = -jac[0]
    w = np.zeros(m)
    w[:2] = 0.5
    return Instance("opposite_rows", jac, stationary=True, phi=0.0, minimizer=w)


def one_column(rng, m, d) -> Instance:
    """d = 1: phi = 0 when the signs differ, else min_m g_m^2 at the vertex of the smallest |g_m|."""
    g = rng.standard_normal((m, 1))
    if rng.random() < 0.5:
        g = np.abs(g)
    stationary = bool(g.min() <= 0 <= g.max())
    phi = 0.0 if stationary else float(np.min(g**2))
    return Instance("one_column", g, stationary=stationary, phi=phi, phi_lower=phi, rank=1)


def zero(rng, m, d) -> Instance:
    """J = 0: every lambda is optimal at beta = 0, lambda = p for beta > 0."""
    return Instance("zero", np.zeros((m, d)), stationary=True, phi=0.0, rank=0)


FAMILIES = {
    f.__name__: f
    for f in (
        gaussian,
        low_rank,
        row_scaled,
        near_collinear,
        stationary_shift,
        stationary_opposite,
        known_min_norm,
        halfspace,
        duplicate_rows,
        opposite_rows,
        one_column,
        zero,
    )
}
#: Families that need at least two rows.
NEEDS_TWO_ROWS = ("stationary_opposite", "duplicate_rows", "opposite_rows")
#: Families with stationarity known by construction, both ways.
STATIONARY_FAMILIES = ("stationary_shift", "stationary_opposite", "opposite_rows", "zero")
NON_STATIONARY_FAMILIES = ("known_min_norm", "halfspace")


def sample(family: str, rng: np.random.Generator, m: int, d: int) -> Instance:
    """Draw one instance of ``family`` with M = m rows and d columns (d = 1 for one_column)."""
    if family not in FAMILIES:
        raise ValueError(f"sample: unknown `family` {family!r}; valid: {sorted(FAMILIES)}")
    if family in NEEDS_TWO_ROWS and m < 2:
        raise ValueError(f"sample: family {family!r} needs `m` >= 2, got {m!r}")
    if family == "one_column":
        d = 1
    return FAMILIES[family](rng, m, d)


#: Preference kinds of `preference_for`.
PREFERENCE_KINDS = ("uniform", "interior", "sparse")


def preference_for(rng: np.random.Generator, m: int, kind: str) -> np.ndarray | None:
    """None (uniform), a random interior point, or a point with zero entries."""
    if kind not in PREFERENCE_KINDS:
        raise ValueError(f"preference_for: unknown `kind` {kind!r}; valid: {PREFERENCE_KINDS}")
    if kind == "uniform":
        return None
    if kind == "interior":
        return rng.dirichlet(np.ones(m))
    return random_simplex_point(rng, m, support=int(rng.integers(1, m + 1)))


def gram_pairs(rng: np.random.Generator, m: int, d: int, *, rel: float) -> tuple[np.ndarray, np.ndarray]:
    """(Q, Q') Gram matrices of J and of J + rel * max|J| * E, E ~ N(0, 1) (for Lemma 1)."""
    jac = rng.standard_normal((m, d)) * 10.0 ** rng.uniform(-1, 1, size=(m, 1))
    jac2 = jac + rel * np.max(np.abs(jac)) * rng.standard_normal((m, d))
    return jac @ jac.T, jac2 @ jac2.T


def one_of_each(
    m: int,
    d: int,
    *,
    families=tuple(FAMILIES),
    beta_rel=BETA_REL,
    scales=SCALES,
    preferences=PREFERENCE_KINDS,
    seed: int = 0,
) -> list[Instance]:
    """One instance per family (M = max(m, 2) for the families that need two rows), deterministic in
    ``seed``. The k-th family gets beta_rel, scale and preference kind number k of their cycles, so a
    property fed these examples meets every family, every beta_rel, scale and preference kind at least
    once whatever budget the random search gets."""
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        raise ValueError(f"one_of_each: unknown `families` {unknown}; valid: {sorted(FAMILIES)}")
    rng = np.random.default_rng(seed)
    out = []
    for k, family in enumerate(families):
        mm = max(m, 2) if family in NEEDS_TWO_ROWS else m
        inst = sample(family, rng, mm, d)
        inst = replace(inst, preference=preference_for(rng, mm, preferences[k % len(preferences)]))
        inst = inst.with_beta_rel(beta_rel[k % len(beta_rel)])
        out.append(inst.scaled(float(np.sqrt(scales[k % len(scales)]))))
    return out
