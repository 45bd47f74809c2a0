"""What a federated RLHF task is made of (:class:`LLMTaskConfig`) and building it (:func:`build_task`).

The algorithm (FIRM, Local-MGDA, FedAvg-LS, FMGDA, FSMGDA, FedCMOO, beta, p, lr, K) and the run
(rounds, checkpoints) are the engine's ``AlgorithmConfig`` / ``RunConfig``; this holds the rest: the
model and where it runs, the rewards (objectives), the clients' data and preferences, the LoRA adapter
and the RLHF loss settings of a local step.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass

from .client_data import check_mix, check_preferences
from .device import check_device_spec, check_dtype_name

#: RLHFConfig fields a task config sets (the algorithm fields come from the engine's AlgorithmConfig)
LOCAL_FIELDS = ("prompts_per_step", "group_size", "max_new_tokens", "temperature", "kl_coef", "advantage",
                "optimizer", "grad_method", "beta_relative")


@dataclass(frozen=True)
class LLMTaskConfig:
    """A federated LoRA RLHF task.

    model : "tiny" (offline, built from Python's docs), "smollm2", a local directory or a cached hub id.
    rewards : reward sources, one objective each (built-in names or reward-model directories).
    num_clients, heterogeneity : N, and the share of a client's prompts from its home mix (used when
        ``client_mixes`` is None).
    client_mixes : None, or one {prompt mix: share} per client.
    client_preferences : None, or one preference p_i (M numbers, normalized) per client.
    seed : prompt pools and evaluation sampling.   lora_seed : the adapter's initialization.
    device / dtype : "auto" | "cpu" | "cuda" | "cuda:N" and "float32" | "bfloat16" | "float16" of the base.
    lora_r / lora_alpha : adapter rank and scale.   eval_samples : completions per evaluation prompt.
    The remaining fields are the local RLHF step's (``trainer.RLHFConfig``).
    """

    model: str = "tiny"
    rewards: tuple[str, ...] = ("positive_sentiment", "brevity")
    num_clients: int = 2
    heterogeneity: float = 0.8
    client_mixes: tuple[dict, ...] | None = None
    client_preferences: tuple[tuple[float, ...], ...] | None = None
    seed: int = 0
    lora_seed: int = 0
    device: str = "auto"
    dtype: str = "float32"
    lora_r: int = 8
    lora_alpha: float = 16.0
    eval_samples: int = 8
    prompts_per_step: int = 4
    group_size: int = 8
    max_new_tokens: int = 24
    temperature: float = 1.0
    kl_coef: float = 0.05
    advantage: str = "grpo"
    optimizer: str = "adam"
    grad_method: str = "autograd"
    beta_relative: bool = True

    def __post_init__(self):
        def err(name, req):
            return ValueError(f"LLMTaskConfig: `{name}` must be {req}, got {getattr(self, name)!r}")

        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 - frozen dataclass normalization
        if not isinstance(self.model, str) or not self.model:
            raise err("model", "a non-empty string")
        rewards = (self.rewards,) if isinstance(self.rewards, str) else tuple(self.rewards)
        if not rewards or not all(isinstance(r, str) and r for r in rewards) or len(set(rewards)) != len(rewards):
            raise err("rewards", "distinct non-empty reward names")
        set_("rewards", rewards)
        for name, low in (("num_clients", 1), ("seed", 0), ("lora_seed", 0), ("eval_samples", 2)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < low:
                raise err(name, f"an integer >= {low}")
        h = self.heterogeneity
        if isinstance(h, bool) or not isinstance(h, numbers.Real) or not 0 <= h <= 1:
            raise err("heterogeneity", "a number in [0, 1]")
        set_("device", check_device_spec(self.device))
        check_dtype_name(self.dtype)
        if self.client_mixes is not None:
            mixes = tuple(check_mix(mx) for mx in self.client_mixes)
            if len(mixes) != self.num_clients:
                raise err("client_mixes", f"one mix per client (N = {self.num_clients})")
            set_("client_mixes", mixes)
        if self.client_preferences is not None:
            p = check_preferences(self.client_preferences, self.num_clients, len(rewards))
            set_("client_preferences", tuple(tuple(float(v) for v in row) for row in p))
        self.lora_spec()
        self.local_config()

    def lora_spec(self):
        from .policy import LoraSpec

        return LoraSpec(r=self.lora_r, alpha=self.lora_alpha)

    def local_config(self):
        """The RLHFConfig of a local step (validates the local fields; errors name the field)."""
        from .trainer import RLHFConfig

        return RLHFConfig(**{k: getattr(self, k) for k in LOCAL_FIELDS})

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["rewards"] = list(self.rewards)
        d["client_mixes"] = None if self.client_mixes is None else [dict(m) for m in self.client_mixes]
        d["client_preferences"] = None if self.client_preferences is None else [list(p) for p in self.client_preferences]
        return d

    @classmethod
    def from_dict(cls, data: dict) -> LLMTaskConfig:
        if not isinstance(data, dict):
            raise TypeError(f"LLMTaskConfig.from_dict: `data` must be a dict, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"LLMTaskConfig: unknown field(s) {unknown}; valid fields are {sorted(names)}")
        return cls(**data)

    def replace(self, **changes) -> LLMTaskConfig:
        return dataclasses.replace(self, **changes)


def build_task(cfg: LLMTaskConfig, *, progress: bool = False):
    """Load the base model on ``cfg.device`` in ``cfg.dtype``, attach the adapter, resolve the rewards,
    build the client pools: an :class:`~backends.rlhf.task.RLHFTask`. The task's description (what a
    checkpoint is matched against) holds every field but the device, so a run checkpointed on one
    device can be resumed on another (the records then reproduce up to the devices' round-off)."""
    from .client_data import client_pools
    from .device import resolve_device, resolve_dtype
    from .policy import attach_lora, load_base
    from .rewards import resolve_reward
    from .task import RLHFTask

    device = resolve_device(cfg.device)
    dtype = resolve_dtype(cfg.dtype, device)
    base, tok = load_base(cfg.model, progress=progress, dtype=dtype)
    base.to(device)
    model = attach_lora(base, cfg.lora_spec(), seed=cfg.lora_seed)
    rewards = [resolve_reward(r) for r in cfg.rewards]
    pools = client_pools(cfg.num_clients, mixes=cfg.client_mixes, heterogeneity=cfg.heterogeneity, seed=cfg.seed)
    return RLHFTask(model, tok, rewards, pools, cfg.local_config(), client_preferences=cfg.client_preferences,
                    eval_samples=cfg.eval_samples, seed=cfg.seed,
                    description={"task_config": {k: v for k, v in cfg.to_dict().items() if k != "device"}})
