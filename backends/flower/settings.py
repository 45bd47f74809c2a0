"""Validated settings of a FIRM run on Flower.

The server reads :class:`FlowerSettings` from the app's run config (``[tool.flwr.app.config]`` in
the app's pyproject, flat dotted keys, overridable with ``flwr run --run-config``; the keys are
listed in ``protocol``) or builds it in Python. What a client needs each round goes out in the train
ConfigRecord (:meth:`FlowerSettings.train_config`, format in ``protocol``). The problem spec belongs
to the backend (``registry``): "numpy" takes ``firm_core.problems.make_problem`` specs, "rlhf" the
LoRA RLHF task of ``firm rlhf`` ({"name": "rlhf", <``backends.rlhf.build.LLMTaskConfig`` fields>},
``backends.flower.rlhf.settings``); the settings only ask the backend to check it.
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

from .protocol import RunConfigSections, TrainConfig, join_run_config, split_run_config
from .registry import backend_entry, backend_names, load_job

#: Algorithms whose client is FIRM's local update (the ones this Flower layer runs).
FLOWER_ALGORITHMS = ("firm", "local_mgda", "fedavg_ls")
DP_MODES = ("none", "client-fixed", "server-fixed")
DEFAULT_PROBLEM = {"name": "quadratics", "num_clients": 4, "num_objectives": 2, "dim": 5, "heterogeneity": 1.0, "seed": 0}


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
    backend : a registered backend (``registry``): "numpy" (``problem`` is a firm_core problem) or
        "rlhf" (``problem`` is the LoRA RLHF task of ``firm rlhf``, an ``LLMTaskConfig`` as a mapping;
        needs the [torch] extra; no DP).
    """

    problem: dict = field(default_factory=lambda: dict(DEFAULT_PROBLEM))
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    rounds: int = 10
    timeout: float = 60.0
    checkpoint_dir: str = ""
    resume_from: str = ""
    out_dir: str = ""
    dp: DPSettings = field(default_factory=DPSettings)
    backend: str = "numpy"

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
        try:
            entry = backend_entry(self.backend)
        except ValueError:
            raise _err("backend", f"must be one of {backend_names()}", self.backend) from None
        if self.dp.mode != "none" and not entry.allows_dp:
            raise _err("dp.mode", f"must be 'none' with backend {self.backend!r}", self.dp.mode)
        load_job(self.backend, "spec").check_spec(self.problem)  # errors name the key

    @property
    def problem_json(self) -> str:
        """The problem spec as the canonical JSON string the clients receive."""
        return json.dumps(self.problem, sort_keys=True)

    def build_problem(self):
        """The backend's problem object for ``problem`` (for "rlhf" the LoRA task, built once per process)."""
        return load_job(self.backend, "spec").build_problem(self.problem)

    @property
    def mode(self) -> str:
        """The client's local-update mode: FedAvg-LS runs on p^T F_i ("scalarized"), the others "firm"."""
        return "scalarized" if self.algorithm.name == "fedavg_ls" else "firm"

    def train_config(self, round_index: int, num_objectives: int) -> ConfigRecord:
        """A fresh train ConfigRecord for global round t = ``round_index`` (format in ``protocol``)."""
        a = self.algorithm
        return TrainConfig(
            round_index=int(round_index), local_steps=int(a.local_steps), lr=float(a.lr), beta=float(a.effective_beta),
            preference=tuple(float(v) for v in a.preference_array(num_objectives)), mode=self.mode, method=a.method,
            seed=int(a.seed), problem=self.problem_json, backend=self.backend,
        ).to_record()

    # --- run config (flat dotted keys of [tool.flwr.app.config]) ------------------------------------
    @classmethod
    def from_run_config(cls, run_config: Mapping[str, Any]) -> FlowerSettings:
        """Settings from Flower's flat run config (keys in ``protocol``): ``algorithm.preference`` as
        "0.3,0.7" ("" = uniform), ``algorithm.participation`` 0 = all, ``algorithm.beta`` "" = default.
        Unknown keys raise ValueError."""
        alg_fields = {f.name for f in dataclasses.fields(AlgorithmConfig)}
        sections = split_run_config(run_config, alg_fields)
        algorithm, top = dict(sections.algorithm), dict(sections.top)
        if "preference" in algorithm:
            algorithm["preference"] = _parse_preference(algorithm["preference"])
        if algorithm.get("participation") == 0:
            algorithm["participation"] = None
        if isinstance(algorithm.get("beta"), str) and algorithm["beta"] == "":
            algorithm["beta"] = None
        if isinstance(top.get("rounds"), numbers.Integral):
            top["rounds"] = int(top["rounds"])
        return cls(
            problem=_problem_of(sections, top.get("backend", "numpy")),
            algorithm=AlgorithmConfig(**algorithm),
            dp=DPSettings(**sections.dp),
            **top,
        )

    def to_run_config(self) -> dict:
        """The flat run config of these settings (keys the app's pyproject declares; the inverse of
        :meth:`from_run_config`)."""
        a, dp = self.algorithm, self.dp
        top = {"rounds": self.rounds, "timeout": self.timeout, "out_dir": self.out_dir,
               "checkpoint_dir": self.checkpoint_dir, "resume_from": self.resume_from, "backend": self.backend}
        algorithm = {
            "name": a.name, "local_steps": a.local_steps, "lr": a.lr,
            "beta": a.effective_beta if a.name != "fedavg_ls" else 0.0, "server_lr": a.server_lr,
            "preference": "" if a.preference is None else ",".join(repr(float(v)) for v in a.preference),
            "participation": a.participation or 0, "seed": a.seed,
        }
        dp_section = {"mode": dp.mode, "noise_multiplier": dp.noise_multiplier, "clipping_norm": dp.clipping_norm}
        to_flat = getattr(load_job(self.backend, "spec"), "problem_to_run_config", None)
        if to_flat is not None:  # the backend's own flat task keys (the rlhf app's model.* / task.* / trainer.*)
            return join_run_config(RunConfigSections(top, {}, algorithm, dp_section, to_flat(self.problem)))
        return join_run_config(RunConfigSections(top, dict(self.problem), algorithm, dp_section))


def _problem_of(sections: RunConfigSections, backend: str) -> dict:
    """The problem spec of a run config: its ``problem.*`` keys, or the backend's own task keys (read by
    the backend spec module's ``problem_from_run_config``), or the default quadratics."""
    if not sections.task:
        return sections.problem or dict(DEFAULT_PROBLEM)
    if sections.problem:
        raise _err("problem", f"comes either from problem.* keys or from task keys, not both "
                   f"(got problem keys {sorted(sections.problem)} and {sorted(sections.task)})", backend)
    try:
        module = load_job(backend, "spec")
    except ValueError:
        raise _err("backend", f"must be one of {backend_names()}", backend) from None
    from_flat = getattr(module, "problem_from_run_config", None)
    if from_flat is None:
        raise _err("backend", f"does not read the run-config keys {sorted(sections.task)} (it takes problem.* keys)",
                   backend)
    return from_flat(sections.task)


def _parse_preference(value) -> tuple[float, ...] | None:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if isinstance(value, str):
        try:
            return tuple(float(v) for v in value.split(","))
        except ValueError:
            raise _err("algorithm.preference", "must be comma-separated floats such as '0.3,0.7'", value) from None
    return value
