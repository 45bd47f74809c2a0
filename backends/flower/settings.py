"""Validated settings of a FIRM run on Flower, and the train ConfigRecord the clients receive.

The server reads :class:`FlowerSettings` from the app's run config (``[tool.flwr.app.config]`` in
the app's pyproject, flat dotted keys, overridable with ``flwr run --run-config``) or builds it in
Python. Everything a client needs travels in the train ConfigRecord of each round (Flower's
``run_simulation`` leaves ``context.run_config`` empty, so the clients never rely on it):

    "server-round"  Flower's round (1-based)          "round-index"  t = global round (0-based)
    "local-steps"   K         "lr"  eta    "beta"  beta    "preference"  p (M floats)
    "mode"          "firm" | "scalarized"              "method"       min-norm solver
    "seed"          run seed (client generators: default_rng([seed, t, client id]))
    "backend"       "numpy" (firm_core problems) | "rlhf" (LoRA RLHF with torch, ``backends.flower.rlhf``)
    "problem"       JSON {"name": ..., **kwargs}: for "numpy" understood by firm_core.problems.make_problem,
                    for "rlhf" the task spec of ``backends.flower.rlhf.RLHFTaskSpec``
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from firm_core.federated.config import AlgorithmConfig
from flwr.app import ConfigRecord

#: Algorithms whose client is FIRM's local update (the ones this Flower layer runs).
FLOWER_ALGORITHMS = ("firm", "local_mgda", "fedavg_ls")
DP_MODES = ("none", "client-fixed", "server-fixed")
#: Where the local update runs: firm_core's numpy problems, or the torch / LoRA RLHF backend.
BACKENDS = ("numpy", "rlhf")
DEFAULT_PROBLEM = {"name": "quadratics", "num_clients": 4, "num_objectives": 2, "dim": 5, "heterogeneity": 1.0, "seed": 0}

#: Keys of the train ConfigRecord.
K_SERVER_ROUND = "server-round"
K_ROUND_INDEX = "round-index"
K_LOCAL_STEPS = "local-steps"
K_LR = "lr"
K_BETA = "beta"
K_PREFERENCE = "preference"
K_MODE = "mode"
K_METHOD = "method"
K_SEED = "seed"
K_PROBLEM = "problem"
K_BACKEND = "backend"


def _err(name: str, requirement: str, value: Any) -> ValueError:
    return ValueError(f"FlowerSettings: `{name}` {requirement}, got {value!r}")


@dataclass(frozen=True)
class DPSettings:
    """Central differential privacy with Flower's fixed-clipping wrappers.

    mode "client-fixed": clients clip their update y_i - x_t to ``clipping_norm`` (Flower's
    ``fixedclipping_mod``), the server adds N(0, (noise_multiplier * clipping_norm / S)^2) to the
    average (``DifferentialPrivacyClientSideFixedClipping``); "server-fixed": the server clips
    (``DifferentialPrivacyServerSideFixedClipping``). "none": no privacy.
    """

    mode: Literal["none", "client-fixed", "server-fixed"] = "none"
    noise_multiplier: float = 0.0
    clipping_norm: float = 1.0

    def __post_init__(self):
        if self.mode not in DP_MODES:
            raise ValueError(f"DPSettings: `mode` must be one of {DP_MODES}, got {self.mode!r}")
        nm, cn = self.noise_multiplier, self.clipping_norm
        if isinstance(nm, bool) or not isinstance(nm, numbers.Real) or not math.isfinite(nm) or nm < 0:
            raise ValueError(f"DPSettings: `noise_multiplier` must be a finite number >= 0, got {nm!r}")
        if isinstance(cn, bool) or not isinstance(cn, numbers.Real) or not math.isfinite(cn) or cn <= 0:
            raise ValueError(f"DPSettings: `clipping_norm` must be a finite number > 0, got {cn!r}")
        object.__setattr__(self, "noise_multiplier", float(nm))
        object.__setattr__(self, "clipping_norm", float(cn))


@dataclass(frozen=True)
class FlowerSettings:
    """One FIRM run on Flower.

    problem : {"name": ..., **kwargs} for ``firm_core.problems.make_problem`` (JSON types only).
    algorithm : the client algorithm (firm, local_mgda or fedavg_ls) and its hyperparameters; its
        ``participation`` S is the number of nodes sampled per round (None = all), its ``seed`` the
        run's seed.
    rounds : T >= 1 rounds.   timeout : seconds the server waits for the replies of a round.
    checkpoint_dir : where a checkpoint is written after each round ("" = none).
    resume_from : a checkpoint folder to continue from ("" = start at round 0).
    out_dir : where the final history.json / history.csv are written ("" = nowhere).
    dp : differential-privacy option.
    backend : "numpy" (``problem`` is a firm_core problem) or "rlhf" (``problem`` is the LoRA RLHF task
        spec of ``backends.flower.rlhf``; needs the [torch] extra; no DP).
    """

    problem: dict = field(default_factory=lambda: dict(DEFAULT_PROBLEM))
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    rounds: int = 10
    timeout: float = 60.0
    checkpoint_dir: str = ""
    resume_from: str = ""
    out_dir: str = ""
    dp: DPSettings = field(default_factory=DPSettings)
    backend: Literal["numpy", "rlhf"] = "numpy"

    def __post_init__(self):
        if not isinstance(self.problem, Mapping) or not isinstance(self.problem.get("name"), str):
            raise _err("problem", "must be a mapping with a string 'name'", self.problem)
        try:
            json.dumps(dict(self.problem))
        except (TypeError, ValueError):
            raise _err("problem", "must hold JSON values only", self.problem) from None
        object.__setattr__(self, "problem", dict(self.problem))
        if not isinstance(self.algorithm, AlgorithmConfig):
            raise TypeError(f"FlowerSettings: `algorithm` must be an AlgorithmConfig, got {type(self.algorithm).__name__}")
        if self.algorithm.name not in FLOWER_ALGORITHMS:
            raise _err("algorithm.name", f"must be one of {FLOWER_ALGORITHMS} on Flower", self.algorithm.name)
        if isinstance(self.rounds, bool) or not isinstance(self.rounds, numbers.Integral) or self.rounds < 1:
            raise _err("rounds", "must be an integer >= 1", self.rounds)
        t = self.timeout
        if isinstance(t, bool) or not isinstance(t, numbers.Real) or not math.isfinite(t) or t <= 0:
            raise _err("timeout", "must be a finite number > 0 (seconds)", t)
        object.__setattr__(self, "timeout", float(t))
        for name in ("checkpoint_dir", "resume_from", "out_dir"):
            if not isinstance(getattr(self, name), str):
                raise _err(name, "must be a string ('' for none)", getattr(self, name))
        if not isinstance(self.dp, DPSettings):
            raise TypeError(f"FlowerSettings: `dp` must be a DPSettings, got {type(self.dp).__name__}")
        if self.backend not in BACKENDS:
            raise _err("backend", f"must be one of {BACKENDS}", self.backend)
        if self.backend == "rlhf":
            if self.dp.mode != "none":
                raise _err("dp.mode", "must be 'none' with backend 'rlhf'", self.dp.mode)
            from .rlhf import RLHFTaskSpec  # needs torch: imported only for this backend

            RLHFTaskSpec.from_dict(self.problem)  # validates the task spec (errors name the key)

    def build_problem(self):
        """The problem instance (``make_problem(name, **kwargs)``), or for backend "rlhf" the LoRA task
        (built once per process and spec); validates the spec."""
        if self.backend == "rlhf":
            from .rlhf import task_from_json

            return task_from_json(json.dumps(self.problem, sort_keys=True))
        return build_problem(self.problem)

    @property
    def mode(self) -> str:
        """The client's local-update mode: FedAvg-LS runs on p^T F_i ("scalarized"), the others "firm"."""
        return "scalarized" if self.algorithm.name == "fedavg_ls" else "firm"

    def train_config(self, round_index: int, num_objectives: int) -> ConfigRecord:
        """A fresh train ConfigRecord for global round t = ``round_index`` (see the module docstring)."""
        a = self.algorithm
        return ConfigRecord(
            {
                K_SERVER_ROUND: int(round_index) + 1,
                K_ROUND_INDEX: int(round_index),
                K_LOCAL_STEPS: int(a.local_steps),
                K_LR: float(a.lr),
                K_BETA: float(a.effective_beta),
                K_PREFERENCE: [float(v) for v in a.preference_array(num_objectives)],
                K_MODE: self.mode,
                K_METHOD: a.method,
                K_SEED: int(a.seed),
                K_PROBLEM: json.dumps(self.problem, sort_keys=True),
                K_BACKEND: self.backend,
            }
        )

    # --- run config (flat dotted keys of [tool.flwr.app.config]) ------------------------------------
    @classmethod
    def from_run_config(cls, run_config: Mapping[str, Any]) -> FlowerSettings:
        """Settings from Flower's flat run config: ``backend``, ``num-server-rounds``, ``timeout``,
        ``checkpoint-dir``, ``resume-from``, ``out-dir``, ``problem.<kwarg>`` (dashes become underscores), ``algorithm.<field>``
        (``preference`` as "0.3,0.7", "" = uniform; ``participation`` 0 = all), ``dp.mode``,
        ``dp.noise-multiplier``, ``dp.clipping-norm``. Unknown keys raise ValueError."""
        cfg = dict(run_config)
        problem: dict[str, Any] = {}
        algorithm: dict[str, Any] = {}
        dp: dict[str, Any] = {}
        top: dict[str, Any] = {}
        top_keys = {
            "num-server-rounds": "rounds",
            "timeout": "timeout",
            "checkpoint-dir": "checkpoint_dir",
            "resume-from": "resume_from",
            "out-dir": "out_dir",
            "backend": "backend",
        }
        alg_fields = {f.name for f in dataclasses.fields(AlgorithmConfig)}
        for key, value in cfg.items():
            head, _, rest = key.partition(".")
            name = rest.replace("-", "_")
            if key in top_keys:
                top[top_keys[key]] = value
            elif head == "problem" and rest:
                problem[name] = value
            elif head == "algorithm" and name in alg_fields:
                algorithm[name] = value
            elif head == "dp" and name in {"mode", "noise_multiplier", "clipping_norm"}:
                dp[name] = value
            else:
                raise ValueError(f"FlowerSettings: unknown run-config key {key!r} (value {value!r})")
        if "preference" in algorithm:
            algorithm["preference"] = _parse_preference(algorithm["preference"])
        if algorithm.get("participation") == 0:
            algorithm["participation"] = None
        if isinstance(algorithm.get("beta"), str) and algorithm["beta"] == "":
            algorithm["beta"] = None
        if isinstance(top.get("rounds"), numbers.Integral):
            top["rounds"] = int(top["rounds"])
        return cls(
            problem=problem or dict(DEFAULT_PROBLEM),
            algorithm=AlgorithmConfig(**algorithm),
            dp=DPSettings(**dp),
            **top,
        )


def _parse_preference(value) -> tuple[float, ...] | None:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if isinstance(value, str):
        try:
            return tuple(float(v) for v in value.split(","))
        except ValueError:
            raise _err("algorithm.preference", "must be comma-separated floats such as '0.3,0.7'", value) from None
    return value


def build_problem(spec: Mapping[str, Any]):
    """``make_problem(spec["name"], **rest)`` with the error naming the spec on failure."""
    from firm_core.problems import make_problem

    spec = dict(spec)
    name = spec.pop("name", None)
    if not isinstance(name, str):
        raise ValueError(f"build_problem: `problem` needs a string 'name', got {name!r}")
    return make_problem(name, **spec)
