"""Named tolerances of the theory checks. Never loosen one to make a check pass: find out why instead.

Round-off: the min-norm solves are exact to a relative KKT residual of 1e-12 (firm_core.tolerances),
so an inequality between computed quantities is accepted when  lhs - rhs <= ROUNDOFF_RTOL * scale,
scale = the sum of the absolute values of the terms on both sides (what round-off is relative to).
"""

#: Relative round-off slack of every pointwise inequality (see the module docstring).
ROUNDOFF_RTOL = 1e-9

#: Round-off of a value computed once (Phi(x_t) from the objectives, v from two iterates): a few hundred ulps.
#: Used for the one-round descent inequality, whose curvature term L_phi gamma^2 ||v||^2 / 2 can be far below
#: ROUNDOFF_RTOL |Phi| (a tolerance that large would hide it).
VALUE_RTOL = 1e-13

#: A bound on an average (Theorems 1-3, a-posteriori bound) is accepted when measured <= bound (1 + BOUND_RTOL).
BOUND_RTOL = 1e-9

#: Theorem 1 tightness is reported as a statistic: the share of Theorem 1 cells on quadratics whose
#: measured / bound exceeds this (the gradient-descent regime predicts ratios in [1/2, 1]; not a pass/fail gate).
THEOREM1_MIN_RATIO = 0.5

#: Bounds in expectation: a stochastic cell passes when the upper end of the one-sided CONFIDENCE
#: Student-t interval of the mean over seeds is below the bound.
CONFIDENCE = 0.99

#: Stochastic cells of the default grid run at least this many seeds (expectations are checked as expectations).
MIN_SEEDS = 30

#: Fitted slope of log(mean phi) against log T may differ from the stated rate by at most this.
RATE_SLOPE_TOL = 0.1

#: Fitted slope of log(phi at the fixed point) against log beta may differ from -2 by at most this.
BETA_SLOPE_TOL = 0.15


#: Fixed-point iterations stop when ||x_{t+1} - x_t|| <= FIXED_POINT_TOL (1 + ||x_t||).
FIXED_POINT_TOL = 1e-13

#: Noise check: the measured mean of ||xi||^2 may differ from sigma^2 by at most this many standard errors.
NOISE_Z = 6.0

#: The a-priori ball for C and zeta is centred at x(p) with radius BALL_MARGIN x max(||x0 - x(p)||,
#: sqrt(2 Delta / mu_Phi)); containment of every visited point is checked after the run.
BALL_MARGIN = 1.25

#: "Bounded away from 0": phi at the beta = 0 fixed point under heterogeneity is at least this fraction of phi(x_0).
BIAS_MIN_RELATIVE = 1e-6

#: Control: on the homogeneous problem (zeta = 0) the fixed point is Pareto-stationary, phi_inf / phi(x_0) below this.
HOMOGENEOUS_MAX_RELATIVE = 1e-12

#: Fixed-point iterations give up after this many rounds (the check then fails: no fixed point found).
FIXED_POINT_MAX_ROUNDS = 20000

#: Reported ratios lhs / rhs skip instances whose rhs is below this multiple of the round-off scale
#: (there the ratio measures round-off, not the inequality). The pass/fail decision uses every instance.
RATIO_FLOOR_REL = 1e-6
