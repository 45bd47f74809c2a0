"""The finite-time bounds of docs/theory.md as pure functions of their constants (numpy only).

    from firm_core.theory import BoundConstants, theorem1_bound, federated_bound
    c = BoundConstants(L=2, L_phi=1.5, C=6, zeta=0.5, sigma=0, M=2, beta=10, eta=0.05, eta_g=1, K=5, T=300, delta=20)
    federated_bound(c).value      # min(B1, B2, B3, B4)
    bound_b4(c.replace(zeta_p=0.3, participation=2)).value   # the client-descent bound, S = 2 clients per round
    fixed_point_gradient_bound(M=2, C=6, zeta_p=0.3, L=2, eta=0.05, K=5, beta=1e4)   # where FIRM ends

A bound certifies something only when it is below what the assumptions already give (min(C^2, phi(x_0))
for a mean of phi, sqrt 2 for a distance between weights). Executable checks of every bound on toy
problems are run by ``firm check-theory``.
"""

from .client_descent import B4_GRID_SIZE, B4Result, bound_b4
from .constants import BoundConstants
from .federated import (
    B3Result,
    FederatedBound,
    FederatedTerms,
    b3_grid,
    b3_value,
    bound_b1,
    bound_b2,
    bound_b3,
    federated_bound,
    federated_terms,
    per_objective_federated_bound,
)
from .lemmas import (
    SIMPLEX_DIAMETER,
    lemma0b_allowance,
    lemma0c_upper,
    lemma1_bound,
    lemma1_jacobian_bound,
    lemma2_client_server_apriori,
    lemma2_client_server_bound,
    lemma2_noise_bound,
    lemma2_pair_bound,
    lemma2_pair_stochastic_k0,
)
from .limits import drift_factor, fixed_point_floor, fixed_point_gradient_bound, single_client_limit_bounds
from .rate import RateConstants, optimal_step, rate_bound, rate_constants
from .theorem1 import (
    one_step_descent_bound,
    per_objective_step_bound,
    per_objective_theorem1_bound,
    theorem1_bound,
)

__all__ = [
    "B3Result",
    "B4Result",
    "B4_GRID_SIZE",
    "bound_b4",
    "BoundConstants",
    "FederatedBound",
    "FederatedTerms",
    "RateConstants",
    "SIMPLEX_DIAMETER",
    "b3_grid",
    "drift_factor",
    "fixed_point_floor",
    "fixed_point_gradient_bound",
    "single_client_limit_bounds",
    "b3_value",
    "bound_b1",
    "bound_b2",
    "bound_b3",
    "federated_bound",
    "federated_terms",
    "lemma0b_allowance",
    "lemma0c_upper",
    "lemma1_bound",
    "lemma1_jacobian_bound",
    "lemma2_client_server_apriori",
    "lemma2_client_server_bound",
    "lemma2_noise_bound",
    "lemma2_pair_bound",
    "lemma2_pair_stochastic_k0",
    "one_step_descent_bound",
    "optimal_step",
    "per_objective_federated_bound",
    "per_objective_step_bound",
    "per_objective_theorem1_bound",
    "rate_bound",
    "rate_constants",
    "theorem1_bound",
]
