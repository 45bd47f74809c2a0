"""KL-penalty coefficient controllers: a fixed coefficient, or one adapted toward a target KL.

The policy-gradient loss carries ``coef * KL(pi || ref)``. With a fixed ``coef`` the KL to the reference
is free to grow when the rewards pull hard; the adaptive controller of Ziegler et al. (2019), "Fine-Tuning
Language Models from Human Preferences" (also TRL's ``AdaptiveKLController``), raises the coefficient
while the measured KL is above a target and lowers it while below:

    e      = clip(KL / target - 1, -0.2, 0.2)          (proportional error, clipped)
    coef  <- coef * (1 + e * n_steps / horizon)

``n_steps`` is how much training the measurement covers, in the unit of ``horizon`` (samples or
optimizer steps; pick one and use it for both). With ``n_steps == horizon`` one update changes the
coefficient by at most 20 %; a larger horizon reacts more slowly.

Both controllers are small pure objects: ``value`` is the coefficient to use now, ``update(kl, n_steps)``
returns the next coefficient, and ``to_dict`` / ``controller_from_dict`` round-trip the whole state
through JSON so a run can checkpoint and resume exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Ziegler et al.'s clip on the proportional error e = KL / target - 1
ERROR_CLIP = 0.2
KL_CONTROLLER_KINDS = ("fixed", "adaptive")

#: Defaults for federated LoRA RLHF, updated once per round (n_steps = 1) with the round's mean KL
#: per completion. Measured on the tiny policy (sentiment vs brevity, 2 clients, 30 rounds): a fixed
#: coefficient of 0.05 let the KL climb to 12 nats; 0.5 held it under 1 nat but froze the rewards;
#: the adaptive controller from 0.2 (or 0.1) toward 3 nats peaked at 5.3 (5.8) and settled at 2.6-3.2.
DEFAULT_KL_COEF = 0.2
DEFAULT_KL_TARGET = 3.0  # nats per completion (summed over its tokens)
DEFAULT_KL_HORIZON = 1.0  # rounds: the coefficient moves by at most 20 % per round


def _finite(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a real number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"`{name}` must be finite, got {value!r}")
    return v


@dataclass
class FixedKL:
    """A constant KL coefficient: ``update`` checks its input and returns ``value`` unchanged."""

    value: float

    def __post_init__(self):
        self.value = _finite("value", self.value)
        if self.value < 0:
            raise ValueError(f"FixedKL: `value` must be >= 0, got {self.value}")

    def update(self, kl: float, n_steps: int = 1) -> float:
        _finite("kl", kl)
        _check_steps(n_steps)
        return self.value

    def to_dict(self) -> dict:
        return {"kind": "fixed", "value": self.value}

    @classmethod
    def from_dict(cls, state: dict) -> FixedKL:
        _check_kind(state, "fixed")
        return cls(value=state["value"])


@dataclass
class AdaptiveKL:
    """Ziegler et al.'s adaptive coefficient: coef *= 1 + clip(KL / target - 1, -0.2, 0.2) * n_steps / horizon.

    ``value`` starts at the initial coefficient (> 0: a zero coefficient could never move) and stays > 0:
    each factor is at least 1 - 0.2 * n_steps / horizon, so ``n_steps`` must be < 5 * horizon.
    """

    value: float
    target: float
    horizon: float
    updates: int = 0  # how many measurements the controller has seen (checkpointed with the state)

    def __post_init__(self):
        self.value = _finite("value", self.value)
        self.target = _finite("target", self.target)
        self.horizon = _finite("horizon", self.horizon)
        for name in ("value", "target", "horizon"):
            if not getattr(self, name) > 0:
                raise ValueError(f"AdaptiveKL: `{name}` must be > 0, got {getattr(self, name)}")
        if isinstance(self.updates, bool) or not isinstance(self.updates, int) or self.updates < 0:
            raise ValueError(f"AdaptiveKL: `updates` must be an integer >= 0, got {self.updates!r}")

    def error(self, kl: float) -> float:
        """The clipped proportional error e = clip(kl / target - 1, -0.2, 0.2)."""
        return min(max(_finite("kl", kl) / self.target - 1.0, -ERROR_CLIP), ERROR_CLIP)

    def update(self, kl: float, n_steps: int = 1) -> float:
        """Fold in one KL measurement covering ``n_steps``; returns the new coefficient."""
        _check_steps(n_steps)
        if n_steps >= self.horizon / ERROR_CLIP:
            raise ValueError(f"AdaptiveKL: `n_steps` must be < horizon / {ERROR_CLIP} = "
                             f"{self.horizon / ERROR_CLIP:g} (else the coefficient can reach 0), got {n_steps}")
        self.value *= 1.0 + self.error(kl) * n_steps / self.horizon
        self.updates += 1
        return self.value

    def to_dict(self) -> dict:
        return {"kind": "adaptive", "value": self.value, "target": self.target, "horizon": self.horizon,
                "updates": self.updates}

    @classmethod
    def from_dict(cls, state: dict) -> AdaptiveKL:
        _check_kind(state, "adaptive")
        return cls(value=state["value"], target=state["target"], horizon=state["horizon"],
                   updates=state.get("updates", 0))


def _check_steps(n_steps) -> None:
    if isinstance(n_steps, bool) or not isinstance(n_steps, int):
        raise TypeError(f"`n_steps` must be an integer, got {type(n_steps).__name__}")
    if n_steps < 0:
        raise ValueError(f"`n_steps` must be >= 0, got {n_steps}")


def _check_kind(state, kind: str) -> None:
    if not isinstance(state, dict):
        raise TypeError(f"KL controller state must be a dict, got {type(state).__name__}")
    if state.get("kind") != kind:
        raise ValueError(f"KL controller state: `kind` must be {kind!r}, got {state.get('kind')!r}")


def controller_from_dict(state: dict) -> FixedKL | AdaptiveKL:
    """Rebuild a controller saved with ``to_dict`` (dispatch on its ``kind``)."""
    if not isinstance(state, dict):
        raise TypeError(f"KL controller state must be a dict, got {type(state).__name__}")
    kind = state.get("kind")
    if kind == "fixed":
        return FixedKL.from_dict(state)
    if kind == "adaptive":
        return AdaptiveKL.from_dict(state)
    raise ValueError(f"KL controller state: `kind` must be one of {KL_CONTROLLER_KINDS}, got {kind!r}")


def default_kl_controller() -> AdaptiveKL:
    """AdaptiveKL(DEFAULT_KL_COEF, DEFAULT_KL_TARGET, DEFAULT_KL_HORIZON): update it once per round."""
    return AdaptiveKL(DEFAULT_KL_COEF, DEFAULT_KL_TARGET, DEFAULT_KL_HORIZON)


def make_kl_controller(coef: float, target: float | None = None, horizon: float | None = None):
    """FixedKL(coef) when ``target`` is None, else AdaptiveKL(coef, target, horizon) (horizon required)."""
    if target is None:
        if horizon is not None:
            raise ValueError("`horizon` is only used with a KL `target` (the adaptive controller)")
        return FixedKL(coef)
    if horizon is None:
        raise ValueError("the adaptive KL controller needs a `horizon` together with its `target`")
    return AdaptiveKL(coef, target, horizon)
