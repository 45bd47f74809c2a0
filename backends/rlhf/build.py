"""What a federated RLHF task is made of (:class:`LLMTaskConfig`) and building it (:func:`build_task`).

The algorithm (FIRM, Local-MGDA, FedAvg-LS, FMGDA, FSMGDA, FedCMOO, beta, p, lr, K) and the run
(rounds, checkpoints) are the engine's ``AlgorithmConfig`` / ``RunConfig``; this holds the rest: the
model and where it runs, the rewards (objectives), the clients' data and preferences, the LoRA adapter
and the RLHF loss settings of a local step.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from pathlib import Path

from .client_data import check_mix, check_preferences
from .device import check_device_spec, check_dtype_name

#: RLHFConfig fields a task config sets (the algorithm fields come from the engine's AlgorithmConfig)
LOCAL_FIELDS = ("prompts_per_step", "group_size", "max_new_tokens", "temperature", "kl_coef", "advantage",
                "optimizer", "grad_method", "on_nonfinite", "beta_relative", "use_chat_template", "system_prompt")
#: rewards whose task uses the shipped helpful-vs-harmless prompts when ``prompts`` is left unset
ALIGNMENT_REWARDS = ("harmless", "helpful")
KL_CONTROLS = ("adaptive", "fixed")
#: policy models that are names, never paths
BUILTIN_MODELS = ("tiny", "smollm2")


@dataclass(frozen=True)
class LLMTaskConfig:
    """A federated LoRA RLHF task.

    model : "tiny" (offline, built from Python's docs), "smollm2", a local directory or a cached hub id.
    rewards : the objectives, in order, exactly as listed (``rewards.parse_reward_specs``: built-in names,
        reward-model folders, module:callable or file.py:callable).
    prompts : None (the shipped prompts of the task: the helpful-vs-harmless set when a reward is
        harmless or helpful, else the sentence openings of the sentiment-vs-brevity task), "alignment"
        (the shipped helpful-vs-harmless set) or a prompts file (``prompts.load_prompts``).
    prompt_field : the prompt column of a .jsonl / .json / .csv / .tsv / .parquet file.
    split_by / dirichlet_alpha : how a prompt set is split across clients (``prompts.split_prompts``):
        neither = i.i.d.; split_by = a column (one client per value); dirichlet_alpha = Dirichlet shares
        (of each column value when split_by is given too).
    num_clients, heterogeneity : N, and the share of a client's prompts from its home mix (shipped
        sentence openings only, used when ``client_mixes`` is None).
    client_mixes : None, or one {prompt mix: share} per client (shipped sentence openings only).
    use_chat_template / system_prompt : render prompts with the tokenizer's chat template (when it has
        one) and an optional system turn (``chat.format_prompts``).
    kl_control : "adaptive" (``kl_control.AdaptiveKL`` from ``kl_coef`` toward ``kl_target`` nats per
        completion, updated once per round with the round's mean training KL, ``kl_horizon`` rounds) or
        "fixed" (``kl_coef`` throughout).
    beta_relative : False (default): the algorithm's beta is used as is; True: beta * tr(Q) / M.
    on_nonfinite : "skip" (a step with a non-finite loss or gradient is not taken) or "raise".
    client_preferences : None, or one preference p_i (M numbers, normalized) per client.
    seed : prompt pools and evaluation sampling.   lora_seed : the adapter's initialization.
    device / dtype : "auto" | "cpu" | "cuda" | "cuda:N" and "float32" | "bfloat16" | "float16" of the base.
    lora_r / lora_alpha : adapter rank and scale.   eval_samples : completions per evaluation prompt.
    The remaining fields are the local RLHF step's (``trainer.RLHFConfig``).
    """

    model: str = "tiny"
    rewards: tuple[str, ...] = ("positive_sentiment", "brevity")
    prompts: str | None = None
    prompt_field: str = "prompt"
    split_by: str | None = None
    dirichlet_alpha: float | None = None
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
    kl_coef: float = 0.2
    kl_control: str = "adaptive"
    kl_target: float = 3.0
    kl_horizon: float = 1.0
    advantage: str = "grpo"
    optimizer: str = "adam"
    grad_method: str = "autograd"
    on_nonfinite: str = "skip"
    beta_relative: bool = False
    use_chat_template: bool = True
    system_prompt: str | None = None

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
        for name, low in (("num_clients", 1), ("seed", 0), ("lora_seed", 0), ("eval_samples", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < low:
                raise err(name, f"an integer >= {low}")
        if self.eval_samples == 1:
            raise err("eval_samples", "0 (no evaluation) or an integer >= 2")
        for name in ("prompts", "split_by", "system_prompt"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, str) or not v):
                raise err(name, "a non-empty string or None")
        if not isinstance(self.prompt_field, str) or not self.prompt_field:
            raise err("prompt_field", "a non-empty column name")
        a = self.dirichlet_alpha
        if a is not None and (isinstance(a, bool) or not isinstance(a, numbers.Real) or not math.isfinite(a) or a <= 0):
            raise err("dirichlet_alpha", "a finite number > 0 or None")
        if self.prompt_set() is None and (self.split_by is not None or a is not None):
            raise err("split_by", "None unless `prompts` names a prompt set (the sentence openings are split "
                                  "by `heterogeneity` / `client_mixes`)")
        if self.client_mixes is not None and self.prompt_set() is not None:
            raise err("client_mixes", "None with `prompts` (mixes pick from the shipped sentence openings; "
                                      "split a prompt set with split_by / dirichlet_alpha)")
        if self.kl_control not in KL_CONTROLS:
            raise err("kl_control", f"one of {KL_CONTROLS}")
        for name in ("kl_coef", "kl_target", "kl_horizon"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v < 0 \
                    or (v == 0 and name != "kl_coef"):
                raise err(name, ">= 0 and finite" if name == "kl_coef" else "> 0 and finite")
        if self.kl_control == "adaptive" and self.kl_coef == 0:
            raise err("kl_coef", "> 0 with kl_control = 'adaptive' (a zero coefficient never moves)")
        self.kl_controller()
        for name in ("beta_relative", "use_chat_template"):
            if not isinstance(getattr(self, name), bool):
                raise err(name, "true or false")
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

    def prompt_set(self) -> str | None:
        """None (the shipped sentence openings, split by mixes), "alignment" or a prompts file path."""
        if self.prompts is not None:
            return self.prompts
        return "alignment" if any(r in ALIGNMENT_REWARDS for r in self.rewards) else None

    def kl_controller(self):
        """A fresh KL coefficient controller: AdaptiveKL(kl_coef, kl_target, kl_horizon) or FixedKL(kl_coef)."""
        from .kl_control import AdaptiveKL, FixedKL

        if self.kl_control == "fixed":
            return FixedKL(float(self.kl_coef))
        return AdaptiveKL(float(self.kl_coef), float(self.kl_target), float(self.kl_horizon))

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
    from .rewards import parse_reward_specs
    from .task import RLHFTask

    rewards = parse_reward_specs(list(cfg.rewards), option="rewards")
    pools, eval_prompts = task_prompts(cfg)
    device = resolve_device(cfg.device)
    dtype = resolve_dtype(cfg.dtype, device)
    base, tok = load_base(cfg.model, progress=progress, dtype=dtype)
    base.to(device)
    model = attach_lora(base, cfg.lora_spec(), seed=cfg.lora_seed)
    return RLHFTask(model, tok, rewards, pools, cfg.local_config(), client_preferences=cfg.client_preferences,
                    eval_prompts=eval_prompts, eval_samples=cfg.eval_samples, seed=cfg.seed,
                    kl_controller=cfg.kl_controller(),
                    description={"task_config": {k: v for k, v in cfg.to_dict().items() if k != "device"}})


def task_prompts(cfg: LLMTaskConfig) -> tuple[list[list[str]], list[str]]:
    """(one prompt pool per client, the evaluation prompts) of a task config, before any model loads.

    The shipped sentence openings: pools by ``client_mixes`` / ``heterogeneity``, evaluation on all of them.
    A prompt set ("alignment" or a file): ``split_prompts`` by ``split_by`` / ``dirichlet_alpha``, and
    evaluation on the whole set. A bad file or split raises ValueError naming the field."""
    from .client_data import client_pools
    from .prompts import alignment_prompt_records, all_prompts, load_prompt_records, split_prompts

    which = cfg.prompt_set()
    if which is None:
        pools = client_pools(cfg.num_clients, mixes=cfg.client_mixes, heterogeneity=cfg.heterogeneity, seed=cfg.seed)
        return pools, all_prompts()
    field = "prompt" if which == "alignment" else cfg.prompt_field
    records = alignment_prompt_records() if which == "alignment" else load_prompt_records(which, field=field)
    prompts = [r[field] for r in records]
    column = None
    if cfg.split_by is not None:
        missing = [i for i, r in enumerate(records) if cfg.split_by not in r]
        if missing:
            raise ValueError(f"LLMTaskConfig: `split_by` = {cfg.split_by!r}: record {missing[0] + 1} of the prompts "
                             f"has no such column (it has {sorted(records[missing[0]])})")
        column = [r[cfg.split_by] for r in records]
    try:
        pools = split_prompts(prompts, cfg.num_clients, alpha=cfg.dirichlet_alpha, column_values=column, seed=cfg.seed)
    except ValueError as exc:
        raise ValueError(f"LLMTaskConfig: splitting {len(prompts)} prompts across {cfg.num_clients} clients: {exc}") \
            from None
    return pools, prompts


def check_inputs(cfg: LLMTaskConfig, *, rewards_label: str = "`rewards`", prompts_label: str = "`prompts`") -> None:
    """What can be checked before a model loads: each reward spec that is not built in (a reward-model
    folder, module:callable or file.py:callable is parsed and loaded; errors name ``rewards_label``) and
    the prompts with their split (``task_prompts``; its ValueError is prefixed with ``prompts_label``)."""
    from .rewards import BUILTIN_REWARDS, parse_reward_spec

    for spec in cfg.rewards:
        if spec not in BUILTIN_REWARDS:  # built-ins load lazily; folders and callables are checked here
            parse_reward_spec(spec, option=rewards_label)
    try:
        task_prompts(cfg)
    except ValueError as exc:
        raise ValueError(f"{prompts_label}: {exc}") from None


def _absolute(path: str, base: Path) -> str:
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def _absolute_reward(spec: str, base: Path) -> str:
    """A reward spec with its file part absolute: a reward-model folder that exists under ``base``, or the
    file of file.py:callable; built-in names and module:callable are returned unchanged."""
    from .rewards import BUILTIN_REWARDS

    if spec in BUILTIN_REWARDS:
        return spec
    head, sep, tail = spec.rpartition(":")
    if sep and head.endswith(".py"):
        return f"{_absolute(head, base)}:{tail}"
    if (base / Path(spec).expanduser()).is_dir():
        return _absolute(spec, base)
    return spec


def with_absolute_paths(cfg: LLMTaskConfig, base) -> LLMTaskConfig:
    """``cfg`` with every relative path resolved against the directory ``base``: the prompts file (not
    "alignment"), a model directory that exists there, reward-model folders and the files of
    file.py:callable rewards. A process that runs elsewhere (a Flower ServerApp / ClientApp) then
    reads the same files."""
    base = Path(base)
    prompts = cfg.prompts
    if prompts is not None and prompts != "alignment":
        prompts = _absolute(prompts, base)
    model = cfg.model
    if model not in BUILTIN_MODELS and (base / Path(model).expanduser()).is_dir():
        model = _absolute(model, base)
    rewards = tuple(_absolute_reward(r, base) for r in cfg.rewards)
    return cfg.replace(prompts=prompts, model=model, rewards=rewards)
