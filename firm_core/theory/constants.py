"""The constants every bound is a function of, validated once.

Notation (docs/theory.md, section 1): L (client-gradient Lipschitz constant), L_phi (smoothness of
the potential Phi = p^T F, L_phi <= L), C (bound on every ||grad f_{i,m}|| on a convex set holding
every iterate), zeta (heterogeneity: ||grad f_{i,m} - grad f_m|| <= zeta at the server iterates),
sigma (noise: E||xi||^2 <= sigma^2 per objective), M objectives, beta >= 0, client step eta, server
step eta_g, K local steps, T rounds, Delta = Phi(x_0) - inf Phi. Optional refinements of zeta used by
the client-descent bound B4: zeta_p >= sqrt(sum_i w_i ||(G_i(x) - G(x)) p||^2) (heterogeneity of grad Phi,
default zeta) and zeta_f >= sqrt(sum_i w_i ||(G_i(x) - G(x)) P_perp||_F^2) (default sqrt(M) zeta), both at
the server iterates; participation S (clients drawn per round with replacement, probabilities w; None =
every client every round).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from . import _checks

#: L_phi may exceed L by this relative round-off before the pair is called inconsistent (L_phi <= L
#: holds exactly: Phi is a convex combination of L-smooth functions).
L_PHI_RTOL = 1e-12


@dataclass(frozen=True)
class BoundConstants:
    """Validated constants (L, L_phi, C, zeta, sigma, M, beta, eta, eta_g, K, T, delta; optional zeta_p,
    zeta_f, participation).

    ``gamma = eta_g * eta * K`` is the effective step of one round (x_{t+1} = x_t - gamma v_t).
    """

    L: float
    L_phi: float
    C: float
    zeta: float
    sigma: float
    M: int
    beta: float
    eta: float
    eta_g: float
    K: int
    T: int
    delta: float
    zeta_p: float | None = None
    zeta_f: float | None = None
    participation: int | None = None

    def __post_init__(self):
        w = "BoundConstants"
        s = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 - frozen normalization
        s("L", _checks.real(self.L, "L", w, strict=True))
        s("L_phi", _checks.real(self.L_phi, "L_phi", w, strict=True))
        if self.L_phi > self.L * (1.0 + L_PHI_RTOL):
            raise ValueError(f"{w}: `L_phi` must be <= L = {self.L!r} (Phi is an average of L-smooth functions), got {self.L_phi!r}")
        s("C", _checks.real(self.C, "C", w))
        s("zeta", _checks.real(self.zeta, "zeta", w))
        s("sigma", _checks.real(self.sigma, "sigma", w))
        s("M", _checks.integer(self.M, "M", w))
        s("beta", _checks.real(self.beta, "beta", w))
        s("eta", _checks.real(self.eta, "eta", w, strict=True))
        s("eta_g", _checks.real(self.eta_g, "eta_g", w, strict=True))
        s("K", _checks.integer(self.K, "K", w))
        s("T", _checks.integer(self.T, "T", w))
        s("delta", _checks.real(self.delta, "delta", w))
        s("zeta_p", self.zeta if self.zeta_p is None else _checks.real(self.zeta_p, "zeta_p", w))
        s("zeta_f", self.M**0.5 * self.zeta if self.zeta_f is None else _checks.real(self.zeta_f, "zeta_f", w))
        if self.participation is not None:
            s("participation", _checks.integer(self.participation, "participation", w))

    @property
    def gamma(self) -> float:
        """gamma = eta_g eta K."""
        return self.eta_g * self.eta * self.K

    def replace(self, **changes) -> BoundConstants:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
