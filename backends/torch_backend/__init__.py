"""Torch backend: plug any ``torch.nn.Module`` and M losses into firm_core.

    >>> step = MultiObjectiveStep(model.parameters(), beta=0.1, optimizer=torch.optim.SGD(...))
    >>> info = step.step([loss_1, loss_2])       # lambda, Gram (float64), per-objective norms

Needs the torch extra: ``pip install 'firm[torch]'``.
"""

from ._imports import EXTRA_HINT, require_torch

require_torch()

from .gradients import GRADIENT_METHODS, flatten, gram64, jacobian, unflatten  # noqa: E402
from .step import (  # noqa: E402
    STEP_METHODS,
    MultiObjectiveStep,
    NonFiniteGradientError,
    StepInfo,
    scalarized_backward,
    solve_weights,
    write_grads,
)

__all__ = [
    "EXTRA_HINT",
    "GRADIENT_METHODS",
    "STEP_METHODS",
    "MultiObjectiveStep",
    "NonFiniteGradientError",
    "StepInfo",
    "flatten",
    "gram64",
    "jacobian",
    "scalarized_backward",
    "solve_weights",
    "unflatten",
    "write_grads",
]
