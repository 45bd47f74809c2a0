"""One FIRM / MGDA step for any torch model: per-objective gradients -> Gram (float64) -> lambda -> .grad.

    J = [grad L_1; ...; grad L_M]   (M x d, over the chosen parameters)
    Q = J J^T                        (float64)
    lambda = argmin_{l in simplex} 0.5 l^T Q l + 0.5 beta ||l - p||^2   (firm_core.weighting.firm_weights)
    p.grad <- J^T lambda             (firm_core.weighting.combine; then any torch optimizer steps, plain
                                      SGD being the theory's update)

beta = inf is accepted and means lambda = p exactly (the linear scalarization p^T L).
With ``beta_relative=True`` the regularization used is beta * tr(Q) / M (``firm_core.weighting.scaled_beta``:
beta in units of the mean squared gradient norm), which makes one beta meaningful across models whose
gradient scales differ.

``method="fast"`` (approximate in lambda, exact in the combination): lambda is solved on the Gram of
the losses' gradients with respect to a cheap *surrogate* tensor s that the losses depend on (in
RLHF, the per-token log-probabilities), Q_s = J_s J_s^T with J_s = dL/ds; then one backward of
sum_m lambda_m L_m gives the exact gradient of the lambda-combined loss. Q_s equals Q only when
ds/dtheta is an isometry, so lambda differs from the exact one in general (MGDA-UB-style bound).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from firm_core.result import SolverStatus
from firm_core.weighting import combine, firm_weights, scaled_beta

from ._imports import require_torch
from .gradients import GRADIENT_METHODS, as_loss_list, as_param_list, flatten, gram64, jacobian, unflatten

torch = require_torch()

STEP_METHODS = (*GRADIENT_METHODS, "fast")
NONFINITE_POLICIES = ("raise", "skip")


class NonFiniteGradientError(FloatingPointError):
    """A loss or a per-objective gradient held NaN or inf; nothing was written to ``.grad``."""


@dataclass(frozen=True)
class StepInfo:
    """What one multi-objective step did.

    weights : (M,) lambda on the simplex (NaN when skipped).
    gram : (M, M) float64 Gram matrix the weights were solved on (of the surrogate gradients for
        ``method="fast"``; NaN when skipped).
    norms : (M,) per-objective gradient norms sqrt(diag gram).
    direction_norm : ||J^T lambda|| over the parameters (NaN when skipped).
    skipped : True when a non-finite loss or gradient was found and ``on_nonfinite="skip"``.
    reason : why the step was skipped ("" otherwise).
    solver_message : firm_core's status message for the lambda solve.
    solver_status : firm_core's SolverStatus of the lambda solve (CONVERGED when no solve ran: a
        skipped step, or beta = inf).
    """

    weights: np.ndarray
    gram: np.ndarray
    norms: np.ndarray
    direction_norm: float
    skipped: bool
    reason: str = ""
    solver_message: str = ""
    solver_status: SolverStatus = SolverStatus.CONVERGED


def check_beta_pref(beta, preference, m: int | None = None):
    """Validate beta (>= 0, inf allowed) and the preference; returns (beta, p or None)."""
    if isinstance(beta, bool) or not isinstance(beta, int | float | np.floating | np.integer):
        raise TypeError(f"`beta` must be a real number, got {beta!r} of type {type(beta).__name__}")
    beta = float(beta)
    if math.isnan(beta) or beta < 0:
        raise ValueError(f"`beta` must be >= 0 (inf allowed), got {beta!r}")
    if preference is None:
        return beta, None
    p = np.asarray(preference, dtype=np.float64)
    if p.ndim != 1 or (m is not None and p.shape[0] != m):
        raise ValueError(f"`preference` must be a vector of length M={m}, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0) or abs(p.sum() - 1.0) > 1e-9:
        raise ValueError(f"`preference` must be a probability vector, got {p.tolist()}")
    return beta, p


def solve_weights(gram: np.ndarray, beta: float, preference=None, solver: str = "auto"):
    """lambda*(Q; beta, p) (``firm_core.weighting.firm_weights``); beta = inf returns p.
    Returns (weights (M,), solver message)."""
    weights, _, message = firm_weights(gram, beta=beta, preference=preference, method=solver)
    return np.asarray(weights, dtype=np.float64), message


def write_grads(params, flat_direction) -> None:
    """Set ``p.grad`` of every parameter to its slice of the flat direction (overwrites)."""
    for p, g in zip(params, unflatten(flat_direction, params), strict=True):
        p.grad = g.detach().clone().to(dtype=p.dtype)


def _nan_info(m: int, reason: str) -> StepInfo:
    nan = np.full(m, np.nan)
    return StepInfo(nan, np.full((m, m), np.nan), nan, math.nan, True, reason)


class MultiObjectiveStep:
    """Turn M losses into one descent direction on ``params`` (written to ``.grad``).

    Parameters
    ----------
    params : the parameters to differentiate (e.g. only the LoRA tensors).
    beta : regularization of lambda toward ``preference`` (0 = MGDA, inf = scalarization).
    beta_relative : use beta * tr(Q) / M instead of beta (scale-free beta).
    preference : probability vector p of length M (uniform when None).
    method : "autograd" (M autograd.grad calls, exact), "batched" (is_grads_batched, exact) or
        "fast" (lambda from surrogate gradients; approximate lambda, exact combined gradient).
    on_nonfinite : "raise" (NonFiniteGradientError) or "skip" (grads set to None, step skipped).
    optimizer : optional torch optimizer; :meth:`step` calls its ``step()`` after a good backward.
    solver : firm_core min-norm method name ("auto" = fastest exact).
    """

    def __init__(self, params, beta: float = 0.0, preference=None, method: str = "autograd",
                 on_nonfinite: Literal["raise", "skip"] = "raise", optimizer=None, solver: str = "auto",
                 beta_relative: bool = False):
        self.params = as_param_list(params)
        self.beta, self.preference = check_beta_pref(beta, preference)
        self.beta_relative = bool(beta_relative)
        if method not in STEP_METHODS:
            raise ValueError(f"`method` must be one of {STEP_METHODS}, got {method!r}")
        if on_nonfinite not in NONFINITE_POLICIES:
            raise ValueError(f"`on_nonfinite` must be one of {NONFINITE_POLICIES}, got {on_nonfinite!r}")
        self.method = method
        self.on_nonfinite = on_nonfinite
        self.optimizer = optimizer
        self.solver = solver

    def _bad(self, m: int, reason: str) -> StepInfo:
        if self.on_nonfinite == "raise":
            raise NonFiniteGradientError(f"{reason}; no gradient was written (on_nonfinite='raise')")
        for p in self.params:
            p.grad = None
        return _nan_info(m, reason)

    def _weights(self, gram: np.ndarray):
        """(lambda, message, status): lambda*(Q; beta', p) with beta' = ``firm_core.weighting.scaled_beta``."""
        beta = scaled_beta(self.beta, gram, relative=self.beta_relative)
        weights, status, message = firm_weights(gram, beta=beta, preference=self.preference, method=self.solver)
        return np.asarray(weights, dtype=np.float64), message, status

    def backward(self, losses, surrogate=None) -> StepInfo:
        """Compute lambda and write ``J^T lambda`` into ``.grad``. ``surrogate`` is needed for "fast"."""
        losses = as_loss_list(losses)
        m = len(losses)
        if self.preference is not None and len(self.preference) != m:
            raise ValueError(f"`preference` has length {len(self.preference)} but {m} losses were given")
        values = torch.stack([loss.detach() for loss in losses])
        if not bool(torch.isfinite(values).all()):
            return self._bad(m, f"non-finite loss values {values.tolist()}")
        if self.method == "fast":
            return self._backward_fast(losses, surrogate)
        jac = jacobian(losses, self.params, method=self.method)
        finite_rows = torch.isfinite(jac).all(dim=1)
        if not bool(finite_rows.all()):
            bad = [k for k in range(m) if not bool(finite_rows[k])]
            return self._bad(m, f"non-finite gradient for objective(s) {bad}")
        gram = gram64(jac)
        weights, msg, status = self._weights(gram)
        lam = torch.as_tensor(weights, dtype=jac.dtype, device=jac.device)
        direction = combine(lam, jac)
        write_grads(self.params, direction)
        return StepInfo(weights, gram, np.sqrt(np.clip(np.diag(gram), 0, None)),
                        float(direction.detach().double().norm()), False, "", msg, status)

    def _backward_fast(self, losses, surrogate) -> StepInfo:
        m = len(losses)
        if not isinstance(surrogate, torch.Tensor) or not surrogate.requires_grad:
            raise ValueError("method='fast' needs `surrogate`: a tensor in the graph that the losses depend on, "
                             f"got {type(surrogate).__name__}")
        rows = [torch.autograd.grad(loss, surrogate, retain_graph=True, allow_unused=True)[0] for loss in losses]
        js = torch.stack([(r if r is not None else torch.zeros_like(surrogate)).reshape(-1) for r in rows])
        if not bool(torch.isfinite(js).all()):
            return self._bad(m, "non-finite surrogate gradient")
        gram = gram64(js)
        weights, msg, status = self._weights(gram)
        lam = torch.as_tensor(weights, dtype=losses[0].dtype, device=losses[0].device)
        combined = combine(lam, torch.stack(losses)[:, None])[0]  # sum_m lambda_m L_m
        grads = torch.autograd.grad(combined, self.params, allow_unused=True)
        direction = flatten(grads, self.params)
        if not bool(torch.isfinite(direction).all()):
            return self._bad(m, "non-finite combined gradient")
        write_grads(self.params, direction)
        return StepInfo(weights, gram, np.sqrt(np.clip(np.diag(gram), 0, None)),
                        float(direction.detach().double().norm()), False, "", msg, status)

    def step(self, losses, surrogate=None) -> StepInfo:
        """:meth:`backward`, then ``optimizer.step()`` unless the step was skipped (needs an optimizer)."""
        if self.optimizer is None:
            raise ValueError("`optimizer` is None: pass one to MultiObjectiveStep, or call backward() and step it")
        info = self.backward(losses, surrogate)
        if not info.skipped:
            self.optimizer.step()
        return info


def scalarized_backward(losses, params, preference=None) -> None:
    """Reference: write grad of p^T L into ``.grad`` with one backward (the FedAvg-LS local step)."""
    losses = as_loss_list(losses)
    params = as_param_list(params)
    m = len(losses)
    p = np.full(m, 1.0 / m) if preference is None else np.asarray(preference, dtype=np.float64)
    w = torch.as_tensor(p, dtype=losses[0].dtype, device=losses[0].device)
    grads = torch.autograd.grad((w * torch.stack(losses)).sum(), params, allow_unused=True)
    direction = flatten(grads, params)
    if not bool(torch.isfinite(direction).all()):
        raise NonFiniteGradientError("non-finite scalarized gradient; no gradient was written")
    write_grads(params, direction)
