"""Validated, frozen configuration of one federated algorithm and of one run.

Every field is checked in ``__post_init__``; an error names the field and the value found, e.g.
``AlgorithmConfig: `lr` must be a finite number > 0, got -0.1``. ``to_dict`` / ``from_dict`` round-trip
through plain JSON types (tuples become lists and back).
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ..min_norm import METHODS
from ..validation import check_int, check_positive_float, short_repr
from ..tolerances import PREFERENCE_SUM_TOL

AlgorithmName = Literal["firm", "local_mgda", "fedavg_ls", "fmgda", "fsmgda", "fedcmoo"]

#: Every algorithm the engine runs (FIRM and its baselines).
ALGORITHMS: tuple[str, ...] = ("firm", "local_mgda", "fedavg_ls", "fmgda", "fsmgda", "fedcmoo")

#: Human-readable names for tables and plots.
DISPLAY_NAMES = {
    "firm": "FIRM",
    "local_mgda": "Local-MGDA",
    "fedavg_ls": "FedAvg-LS",
    "fmgda": "FMGDA",
    "fsmgda": "FSMGDA",
    "fedcmoo": "FedCMOO",
}

#: beta used by FIRM when the config leaves it unset.
DEFAULT_FIRM_BETA = 1.0

#: FedCMOO's server: "official" (bias-corrected Gram estimate from the clients' Grams, sketches and cross
#: terms, lambda by a fixed number of warm-started projected gradient steps, as the authors' code runs it)
#: or "exact_lambda" (lambda solved exactly on the Gram of the averaged sketches).
FEDCMOO_VARIANTS: tuple[str, ...] = ("official", "exact_lambda")

#: Algorithms whose lambda-problem is plain MGDA (beta fixed at 0) or that solve no lambda problem at all:
#: a non-zero beta for them is a configuration error rather than something silently ignored.
_BETA_FIXED_ZERO = ("local_mgda", "fedavg_ls", "fmgda", "fsmgda")


def _err(cls: str, name: str, requirement: str, value: Any) -> ValueError:
    return ValueError(f"{cls}: `{name}` {requirement}, got {short_repr(value)}")


def _check_int(cls: str, name: str, value, *, minimum: int) -> int:
    """The project's one policy (firm_core.validation): TypeError for a non-integer, ValueError below minimum."""
    return check_int(value, name, cls, minimum=minimum)


def _check_pos_float(cls: str, name: str, value) -> float:
    """TypeError for a non-number, ValueError for NaN, inf or <= 0 (firm_core.validation)."""
    return float(check_positive_float(value, name, cls))


@dataclass(frozen=True)
class AlgorithmConfig:
    """One federated algorithm and its hyperparameters.

    name : one of :data:`ALGORITHMS`.
    local_steps : K >= 1, local steps per round (FMGDA/FSMGDA: per objective).
    lr : eta > 0, client step size.
    server_lr : eta_g > 0, server step size; x_{t+1} = x_t + eta_g sum_i w_i (y_i - x_t).
    beta : regularization of the lambda-problem. None = the algorithm's default (FIRM: 1.0, FedCMOO's
        server solve: 0.0, all others: 0.0). It must be 0 (or None) for local_mgda, fedavg_ls, fmgda
        and fsmgda, which have no beta.
    preference : p in the simplex, length M (None = uniform). FIRM's anchor, FedAvg-LS's scalarization.
    participation : S, client draws per round (None = all N): S draws with replacement proportional to
        the client weights, each distinct client weighted by its share of the draws, so the expected
        update is the full-participation update (``firm_core.federated.sampling.sample_round``).
    method : min-norm solver method (``firm_core.METHODS``).
    sketch_rank : FedCMOO's rank r of each client's randomized-SVD sketch (1 <= r <= M).
    fedcmoo_variant : FedCMOO's server, one of :data:`FEDCMOO_VARIANTS` (default "official").
    scale_iterations : FedCMOO official variant: projected gradient steps for lambda per round (>= 1).
    scale_lr : FedCMOO official variant: their step size (> 0) on the normalized Gram estimate.
    scale_momentum : FedCMOO official variant: heavy-ball momentum in [0, 1) (reset every round).
    seed : non-negative integer; all randomness of a run derives from it.
    label : display name for tables and plots (default: the algorithm's name, plus beta for FIRM).
    """

    name: AlgorithmName = "firm"
    local_steps: int = 5
    lr: float = 0.05
    server_lr: float = 1.0
    beta: float | None = None
    preference: tuple[float, ...] | None = None
    participation: int | None = None
    method: str = "auto"
    sketch_rank: int = 1
    fedcmoo_variant: str = "official"
    scale_iterations: int = 1000
    scale_lr: float = 1e-3
    scale_momentum: float = 0.0
    seed: int = 0
    label: str | None = None

    def __post_init__(self):
        c = "AlgorithmConfig"
        if self.name not in ALGORITHMS:
            raise _err(c, "name", f"must be one of {ALGORITHMS}", self.name)
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 - frozen dataclass normalization
        set_("local_steps", _check_int(c, "local_steps", self.local_steps, minimum=1))
        set_("lr", _check_pos_float(c, "lr", self.lr))
        set_("server_lr", _check_pos_float(c, "server_lr", self.server_lr))
        beta = self.beta
        if beta is not None:
            if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not np.isfinite(beta) or beta < 0:
                raise _err(c, "beta", "must be a finite number >= 0 (or None for the default)", beta)
            beta = float(beta)
            if self.name in _BETA_FIXED_ZERO and beta != 0.0:
                raise _err(c, "beta", f"must be 0 or None for {self.name!r} (it has no beta; use 'firm')", beta)
        set_("beta", beta)
        if self.preference is not None:
            try:
                p = np.asarray(self.preference, dtype=np.float64)
            except (TypeError, ValueError):
                raise _err(c, "preference", "must be a probability vector", self.preference) from None
            if p.ndim != 1 or p.size < 1 or not np.all(np.isfinite(p)) or np.any(p < 0) or (
                abs(p.sum() - 1.0) > PREFERENCE_SUM_TOL
            ):
                raise _err(c, "preference", "must be a probability vector (entries >= 0, sum 1)", self.preference)
            set_("preference", tuple(float(v) for v in p))
        if self.participation is not None:
            set_("participation", _check_int(c, "participation", self.participation, minimum=1))
        if self.method not in METHODS:
            raise _err(c, "method", f"must be one of {METHODS}", self.method)
        set_("sketch_rank", _check_int(c, "sketch_rank", self.sketch_rank, minimum=1))
        self._check_fedcmoo_fields(c)
        set_("seed", _check_int(c, "seed", self.seed, minimum=0))
        if self.label is not None and (not isinstance(self.label, str) or not self.label):
            raise _err(c, "label", "must be a non-empty string or None", self.label)

    def _check_fedcmoo_fields(self, c: str) -> None:
        if not isinstance(self.fedcmoo_variant, str):
            raise TypeError(f"{c}: `fedcmoo_variant` must be a str, got {type(self.fedcmoo_variant).__name__}")
        if self.fedcmoo_variant not in FEDCMOO_VARIANTS:
            raise _err(c, "fedcmoo_variant", f"must be one of {FEDCMOO_VARIANTS}", self.fedcmoo_variant)
        object.__setattr__(self, "scale_iterations", _check_int(c, "scale_iterations", self.scale_iterations, minimum=1))
        object.__setattr__(self, "scale_lr", _check_pos_float(c, "scale_lr", self.scale_lr))
        mom = self.scale_momentum
        if isinstance(mom, bool) or not isinstance(mom, numbers.Real) or not np.isfinite(mom) or not 0 <= mom < 1:
            raise _err(c, "scale_momentum", "must be a number in [0, 1)", mom)
        object.__setattr__(self, "scale_momentum", float(mom))

    # --- derived values -------------------------------------------------------------------------
    @property
    def effective_beta(self) -> float:
        """The beta this config's algorithm actually uses, absolute (the one meaning of "effective beta"):
        FIRM's (default 1.0), FedCMOO's server solve (default 0), 0 for every other algorithm."""
        if self.beta is not None:
            return self.beta
        return DEFAULT_FIRM_BETA if self.name == "firm" else 0.0

    @property
    def display_name(self) -> str:
        if self.label is not None:
            return self.label
        base = DISPLAY_NAMES[self.name]
        return f"{base} (beta={self.effective_beta:g})" if self.name == "firm" else base

    def preference_array(self, num_objectives: int) -> np.ndarray:
        """p as a float64 array of length M (uniform when None); ValueError if its length is not M."""
        if self.preference is None:
            return np.full(num_objectives, 1.0 / num_objectives)
        if len(self.preference) != num_objectives:
            raise ValueError(
                f"AlgorithmConfig: `preference` must have length M = {num_objectives}, got {list(self.preference)}"
            )
        return np.asarray(self.preference, dtype=np.float64)

    def check_problem(self, problem) -> None:
        """Checks that need the problem: preference length, participation <= N, sketch rank <= M."""
        m, n = int(problem.num_objectives), int(problem.num_clients)
        self.preference_array(m)
        if self.participation is not None and self.participation > n:
            raise _err("AlgorithmConfig", "participation", f"must be <= the number of clients N = {n}", self.participation)
        if self.name == "fedcmoo" and self.sketch_rank > m:
            raise _err("AlgorithmConfig", "sketch_rank", f"must be <= the number of objectives M = {m}", self.sketch_rank)
        if self.method == "closed_form" and m != 2 and self.name in ("firm", "local_mgda", "fmgda", "fsmgda", "fedcmoo"):
            raise _err("AlgorithmConfig", "method", f"'closed_form' needs M = 2, the problem has M = {m}", self.method)

    # --- serialization --------------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if d["preference"] is not None:
            d["preference"] = list(d["preference"])
        return d

    @classmethod
    def from_dict(cls, data: dict) -> AlgorithmConfig:
        return cls(**_known_fields(cls, data))

    def replace(self, **changes) -> AlgorithmConfig:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class RunConfig:
    """How long to run and how to record it.

    rounds : T >= 0, communication rounds.
    checkpoint_every : write a checkpoint every r >= 1 rounds (None = only when the run ends, and only
        when ``run`` is given a ``checkpoint_dir``).
    eval_every : compute the full-gradient metrics (phi, F, dist_pareto) every this many rounds
        (1 = every round; the other rounds record NaN). The final point is always evaluated.
    name : run name, for output folders and metadata.
    """

    rounds: int = 100
    checkpoint_every: int | None = None
    eval_every: int = 1
    name: str = "run"
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        c = "RunConfig"
        object.__setattr__(self, "rounds", _check_int(c, "rounds", self.rounds, minimum=0))
        if self.checkpoint_every is not None:
            object.__setattr__(
                self, "checkpoint_every", _check_int(c, "checkpoint_every", self.checkpoint_every, minimum=1)
            )
        object.__setattr__(self, "eval_every", _check_int(c, "eval_every", self.eval_every, minimum=1))
        if not isinstance(self.name, str) or not self.name:
            raise _err(c, "name", "must be a non-empty string", self.name)
        if not isinstance(self.extra, dict):
            raise _err(c, "extra", "must be a dict", self.extra)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RunConfig:
        return cls(**_known_fields(cls, data))


def _known_fields(cls, data: dict) -> dict:
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__}.from_dict: `data` must be a dict, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown field(s) {unknown}; valid fields are {sorted(names)}")
    return dict(data)
