"""Lemmas 0-2 of docs/theory.md as pure functions.

Lemma 0 (regularized QP, lambda = lambda_beta(G^T G), d = G lambda):
  (a) <G p, d> >= ||d||^2 + beta ||lambda - p||^2
  (b) <g_m, d> >= ||d||^2 - beta ||e_m - p||^2 / 4           (the constant 1/4 is tight)
  (c) phi <= ||d||^2 <= phi + (beta / 2) ||lambda* - p||^2   (the reference derivation states beta; strong convexity gives beta / 2, see docs/theory.md)
Lemma 1 (beta > 0, Q PSD): ||lambda_beta(Q) - lambda_beta(Q')|| <= ||P_perp (Q - Q') lambda_beta(Q')|| / beta.
Lemma 2: client disagreement, deterministic and stochastic (Lemma 1 applied to client Gram matrices).

All functions return the *right-hand sides*; the theory checks (``firm check-theory``) compare them with measured
left-hand sides.
"""

from __future__ import annotations

import numpy as np

from . import _checks

#: Diameter of the probability simplex: ||lambda - lambda'|| <= sqrt(2) for any two weight vectors.
SIMPLEX_DIAMETER = float(np.sqrt(2.0))


def lemma0b_allowance(beta: float, preference, m: int) -> float:
    """beta ||e_m - p||^2 / 4: how far <g_m, d> may fall below ||d||^2 (Lemma 0(b)); = beta (1 - 1/M) / 4 for uniform p."""
    w = "lemma0b_allowance"
    beta = _checks.real(beta, "beta", w)
    p = _checks.preference(preference, None, w)
    m = _checks.integer(m, "m", w, minimum=0)
    if m >= p.size:
        raise ValueError(f"{w}: `m` must be an objective index < M = {p.size}, got {m}")
    e = np.zeros_like(p)
    e[m] = 1.0
    return beta * float(np.sum((e - p) ** 2)) / 4.0


def lemma0c_upper(phi, beta: float, lam_star, preference):
    """Lemma 0(c), sharpened: ||d_beta||^2 <= phi + (beta / 2) ||lambda* - p||^2 for any minimizer lambda* of phi.

    From h(lambda*) >= h(lambda_beta) + (beta / 2) ||lambda* - lambda_beta||^2 (h is beta-strongly convex and
    lambda_beta minimizes it over the simplex) and 2 <a, b> <= ||a + b||^2 / 2 + ... (docs/theory.md, Lemma 0).
    ``phi`` (...) and ``lam_star`` (..., M) may be batched.
    """
    w = "lemma0c_upper"
    beta = _checks.real(beta, "beta", w)
    phi = _checks.nonneg_array(phi, "phi", w)
    lam = np.asarray(lam_star, dtype=np.float64)
    p = _checks.preference(preference, lam.shape[-1] if lam.ndim else None, w)
    return phi + 0.5 * beta * np.sum((lam - p) ** 2, axis=-1)


def lemma1_bound(gram, gram_prime, weights_prime, beta: float, *, projected: bool = True) -> np.ndarray:
    """Lemma 1: ||lambda_beta(Q) - lambda_beta(Q')|| <= ||P_perp (Q - Q') lambda'|| / beta, lambda' = lambda_beta(Q').

    P_perp = I - 1 1^T / M (``projected=False`` drops it, a weaker bound). Batched over leading axes of
    (..., M, M) Gram matrices and (..., M) weights. Returns inf where beta = 0 and the numerator is > 0
    (no Lipschitz bound at beta = 0), and 0 where the numerator is 0. Not capped at sqrt(2).
    """
    w = "lemma1_bound"
    beta = _checks.real(beta, "beta", w)
    q = np.asarray(gram, dtype=np.float64)
    qp = np.asarray(gram_prime, dtype=np.float64)
    lam = np.asarray(weights_prime, dtype=np.float64)
    if q.ndim < 2 or q.shape[-1] != q.shape[-2]:
        raise ValueError(f"{w}: `gram` must have shape (..., M, M), got {q.shape}")
    if qp.shape != q.shape:
        raise ValueError(f"{w}: `gram_prime` must have the shape of `gram` {q.shape}, got {qp.shape}")
    if lam.shape != q.shape[:-1]:
        raise ValueError(f"{w}: `weights_prime` must have shape {q.shape[:-1]}, got {lam.shape}")
    v = np.einsum("...ij,...j->...i", q - qp, lam)
    if projected:
        v = v - v.mean(axis=-1, keepdims=True)
    return _checks.safe_ratio_array(np.linalg.norm(v, axis=-1), beta)


def lemma1_jacobian_bound(M: int, C: float, D: float, beta: float) -> float:
    """min(sqrt 2, 2 sqrt(M) C D / beta), D = max_m ||g_m - g'_m||, all columns of G and G' of norm <= C.

    From (Q - Q') lambda' = G^T (G - G') lambda' + (G - G')^T G' lambda' and ||G||_op <= sqrt(M) C.
    """
    w = "lemma1_jacobian_bound"
    M = _checks.integer(M, "M", w)
    C, D, beta = (_checks.real(v, n, w) for v, n in ((C, "C"), (D, "D"), (beta, "beta")))
    return min(SIMPLEX_DIAMETER, _checks.safe_ratio(2.0 * np.sqrt(M) * C * D, beta))


def lemma2_client_server_bound(M: int, C: float, zeta: float, L: float, drift, d_bar_norm, beta: float):
    """Lemma 2 (deterministic, a-posteriori): ||lambda_{i,k} - lambda_bar|| <= min(sqrt 2, sqrt(M) (zeta + L delta) (C + ||d_bar||) / beta),

    delta = ||y_{i,k} - x_t|| the client's drift, d_bar = G(x_t) lambda_bar the server direction
    (``drift`` and ``d_bar_norm`` may be broadcastable arrays).
    """
    w = "lemma2_client_server_bound"
    M = _checks.integer(M, "M", w)
    C, zeta, L, beta = (_checks.real(v, n, w) for v, n in ((C, "C"), (zeta, "zeta"), (L, "L"), (beta, "beta")))
    drift = _checks.nonneg_array(drift, "drift", w)
    d_bar_norm = _checks.nonneg_array(d_bar_norm, "d_bar_norm", w)
    num = np.sqrt(M) * (zeta + L * drift) * (C + d_bar_norm)
    out = np.minimum(SIMPLEX_DIAMETER, _checks.safe_ratio_array(num, beta))
    return float(out) if out.ndim == 0 else out


def lemma2_client_server_apriori(M: int, C: float, zeta: float, L: float, eta: float, k: int, beta: float) -> float:
    """Lemma 2 (deterministic, a-priori, local step k): ||lambda_{i,k} - lambda_bar|| <= min(sqrt 2, 2 sqrt(M) C (zeta + L eta k C) / beta)."""
    w = "lemma2_client_server_apriori"
    M = _checks.integer(M, "M", w)
    k = _checks.integer(k, "k", w, minimum=0)
    C, zeta, L, eta, beta = (_checks.real(v, n, w) for v, n in ((C, "C"), (zeta, "zeta"), (L, "L"), (eta, "eta"), (beta, "beta")))
    return min(SIMPLEX_DIAMETER, _checks.safe_ratio(2.0 * np.sqrt(M) * C * (zeta + L * eta * k * C), beta))


def lemma2_pair_bound(M: int, C: float, zeta: float, L: float, eta: float, k: int, beta: float) -> float:
    """Lemma 2 (deterministic, two clients at local step k): ||lambda_{i,k} - lambda_{j,k}|| <= min(sqrt 2, 4 sqrt(M) C (zeta + L eta k C) / beta)."""
    w = "lemma2_pair_bound"
    M = _checks.integer(M, "M", w)
    k = _checks.integer(k, "k", w, minimum=0)
    C, zeta, L, eta, beta = (_checks.real(v, n, w) for v, n in ((C, "C"), (zeta, "zeta"), (L, "L"), (eta, "eta"), (beta, "beta")))
    return min(SIMPLEX_DIAMETER, _checks.safe_ratio(4.0 * np.sqrt(M) * C * (zeta + L * eta * k * C), beta))


def lemma2_pair_stochastic_k0(M: int, C: float, zeta: float, sigma: float, beta: float) -> float:
    """Lemma 2 (stochastic, k = 0): E||lambda_{i,0} - lambda_{j,0}|| <= min(sqrt 2, [4 sqrt(M) C zeta + 2 (M + sqrt M) C sigma + 2 M sigma^2] / beta)."""
    w = "lemma2_pair_stochastic_k0"
    M = _checks.integer(M, "M", w)
    C, zeta, sigma, beta = (_checks.real(v, n, w) for v, n in ((C, "C"), (zeta, "zeta"), (sigma, "sigma"), (beta, "beta")))
    num = 4.0 * np.sqrt(M) * C * zeta + 2.0 * (M + np.sqrt(M)) * C * sigma + 2.0 * M * sigma**2
    return min(SIMPLEX_DIAMETER, _checks.safe_ratio(num, beta))


def lemma2_noise_bound(M: int, C: float, noise_norm, beta: float) -> np.ndarray:
    """Lemma 2 (stochastic, pointwise): ||lambda_beta(G~^T G~) - lambda_beta(G^T G)|| <= min(sqrt 2, ((sqrt M + 1) C s + s^2) / beta),

    s = ||G~ - G||_F the noise of one stochastic Jacobian (``noise_norm``, array allowed), columns of G of norm <= C.
    """
    w = "lemma2_noise_bound"
    M = _checks.integer(M, "M", w)
    C, beta = _checks.real(C, "C", w), _checks.real(beta, "beta", w)
    s = np.asarray(noise_norm, dtype=np.float64)
    if not np.all(np.isfinite(s)) or np.any(s < 0):
        raise ValueError(f"{w}: `noise_norm` must be finite and >= 0, got {noise_norm!r}")
    num = (np.sqrt(M) + 1.0) * C * s + s**2
    return np.minimum(SIMPLEX_DIAMETER, _checks.safe_ratio_array(num, beta))
