"""One client's local RLHF steps: sample a group, score M rewards, advantages, per-objective losses,
one multi-objective step on the LoRA parameters through the torch backend.

Algorithms differ only in how lambda is chosen on a client:
    firm        lambda = argmin 0.5 l^T Q l + 0.5 beta ||l - p||^2   (Q from the M LoRA gradients)
    local_mgda  the same with beta = 0
    fedavg_ls   lambda = p (one backward of p^T L; no per-objective gradients)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from firm_core.result import SolverStatus

from ..torch_backend import (
    GRADIENT_METHODS,
    STEP_METHODS,
    MultiObjectiveStep,
    NonFiniteGradientError,
    jacobian,
    scalarized_backward,
)
from ._imports import require_llm_stack
from .losses import ADVANTAGE_KINDS, group_advantages, policy_gradient_losses
from .policy import lora_parameters
from .rewards import score
from .rollout import completion_logprobs, reference_logprobs, sample_group

require_llm_stack()

import torch  # noqa: E402

ALGORITHMS = ("firm", "local_mgda", "fedavg_ls")
OPTIMIZERS = ("adam", "sgd")


@dataclass(frozen=True)
class RLHFConfig:
    """Hyperparameters of the local RLHF steps (validated)."""

    algorithm: str = "firm"
    beta: float = 0.5
    beta_relative: bool = False  # True: beta in units of tr(Q)/M, the mean squared per-objective gradient norm
    preference: tuple[float, ...] | None = None
    prompts_per_step: int = 4
    group_size: int = 8
    max_new_tokens: int = 24
    temperature: float = 1.0
    kl_coef: float = 0.05
    advantage: str = "grpo"
    optimizer: str = "adam"
    lr: float = 1e-2
    grad_method: str = "autograd"
    on_nonfinite: str = "skip"
    use_chat_template: bool = True  # render prompts with the tokenizer's chat template when it has one
    system_prompt: str | None = None  # a leading system turn (needs a chat template)

    def __post_init__(self):
        def bad(name, req):
            raise ValueError(f"RLHFConfig: `{name}` must be {req}, got {getattr(self, name)!r}")

        if self.algorithm not in ALGORITHMS:
            bad("algorithm", f"one of {ALGORITHMS}")
        if not (self.beta >= 0):
            bad("beta", ">= 0")
        for name in ("prompts_per_step", "max_new_tokens"):
            if getattr(self, name) < 1:
                bad(name, ">= 1")
        if self.group_size < 2:
            bad("group_size", ">= 2")
        if not self.temperature > 0:
            bad("temperature", "> 0")
        if not self.kl_coef >= 0:
            bad("kl_coef", ">= 0")
        if self.advantage not in ADVANTAGE_KINDS:
            bad("advantage", f"one of {ADVANTAGE_KINDS}")
        if self.optimizer not in OPTIMIZERS:
            bad("optimizer", f"one of {OPTIMIZERS}")
        if not self.lr > 0:
            bad("lr", "> 0")
        if self.grad_method not in STEP_METHODS:
            bad("grad_method", f"one of {STEP_METHODS}")
        if self.on_nonfinite not in ("raise", "skip"):
            bad("on_nonfinite", "'raise' or 'skip'")
        if not isinstance(self.use_chat_template, bool):
            bad("use_chat_template", "true or false")
        if self.system_prompt is not None and not isinstance(self.system_prompt, str):
            bad("system_prompt", "a string or None")
        if self.preference is not None:
            p = np.asarray(self.preference, dtype=float)
            if p.ndim != 1 or np.any(p < 0) or abs(p.sum() - 1) > 1e-9:
                bad("preference", "a probability vector")

    @property
    def effective_beta(self) -> float:
        return {"firm": self.beta, "local_mgda": 0.0, "fedavg_ls": math.inf}[self.algorithm]

    def preference_vector(self, m: int) -> np.ndarray:
        if self.preference is None:
            return np.full(m, 1.0 / m)
        if len(self.preference) != m:
            raise ValueError(f"RLHFConfig: `preference` has length {len(self.preference)}, there are {m} rewards")
        return np.asarray(self.preference, dtype=np.float64)


@dataclass
class StepRecord:
    rewards: np.ndarray  # (M,) mean reward per objective over the group
    kl: float  # per-completion KL(pi || ref) estimate
    weights: np.ndarray  # (M,) lambda used
    skipped: bool
    completions: list[str] = field(default_factory=list)
    reason: str = ""  # why the step was skipped (non-finite loss or gradient)
    solver_status: SolverStatus = SolverStatus.CONVERGED  # of the lambda solve (CONVERGED when none ran)


@dataclass
class RolloutLosses:
    """One on-policy batch: rewards (n, M), the M per-objective losses, per-token log-probs, KL."""

    rewards: np.ndarray
    losses: list
    logp: torch.Tensor
    kl: float
    completions: list[str]


def rollout_losses(model, tokenizer, rewards, prompts: list[str], cfg: RLHFConfig, seed: int) -> RolloutLosses:
    """Sample a group per prompt (seeded), score the M rewards, form the per-objective losses."""
    rollout = sample_group(model, tokenizer, prompts, cfg.group_size, cfg.max_new_tokens, cfg.temperature, seed,
                           use_chat_template=cfg.use_chat_template, system_prompt=cfg.system_prompt)
    r = score(rewards, rollout.flat_prompts, rollout.completions)
    adv = group_advantages(r, cfg.group_size, cfg.advantage)
    ref = reference_logprobs(model, rollout)
    logp = completion_logprobs(model, rollout)
    losses, kl = policy_gradient_losses(logp, ref, rollout.completion_mask, adv, cfg.kl_coef, cfg.max_new_tokens)
    return RolloutLosses(r, losses, logp, float(kl), rollout.completions)


def draw_prompts(prompt_pool: list[str], count: int, rng: np.random.Generator) -> list[str]:
    """``min(count, len(pool))`` distinct prompts of the pool, drawn with ``rng``."""
    idx = rng.choice(len(prompt_pool), size=min(count, len(prompt_pool)), replace=False)
    return [prompt_pool[i] for i in idx]


def make_optimizer(params, cfg: RLHFConfig):
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr)
    return torch.optim.SGD(params, lr=cfg.lr)


def rlhf_step(model, tokenizer, rewards, prompts: list[str], cfg: RLHFConfig, optimizer, stepper,
              seed: int) -> StepRecord:
    """One on-policy step; ``stepper`` is a MultiObjectiveStep over the LoRA parameters (None for fedavg_ls)."""
    batch = rollout_losses(model, tokenizer, rewards, prompts, cfg, seed)
    m = batch.rewards.shape[1]
    p = cfg.preference_vector(m)
    optimizer.zero_grad(set_to_none=True)
    reason, status = "", SolverStatus.CONVERGED
    if cfg.algorithm == "fedavg_ls":
        params = lora_parameters(model)
        try:
            scalarized_backward(batch.losses, params, preference=p)
            optimizer.step()
            weights, skipped = p, False
        except NonFiniteGradientError as exc:
            if cfg.on_nonfinite == "raise":
                raise
            for q in params:
                q.grad = None
            weights, skipped, reason = np.full(m, np.nan), True, str(exc)
    else:
        info = stepper.step(batch.losses, surrogate=batch.logp)
        weights, skipped, reason = info.weights, info.skipped, info.reason
        status = info.solver_status
    return StepRecord(batch.rewards.mean(axis=0), batch.kl, np.asarray(weights), skipped, batch.completions, reason,
                      status)


def local_steps(model, tokenizer, rewards, prompt_pool: list[str], cfg: RLHFConfig, num_steps: int,
                rng: np.random.Generator) -> list[StepRecord]:
    """``num_steps`` RLHF steps from the adapter currently loaded (a fresh optimizer: stateless client)."""
    params = lora_parameters(model)
    opt = make_optimizer(params, cfg)
    m = len(rewards)
    stepper = None
    if cfg.algorithm != "fedavg_ls":
        stepper = MultiObjectiveStep(params, beta=cfg.effective_beta, preference=cfg.preference_vector(m),
                                     method=cfg.grad_method, on_nonfinite=cfg.on_nonfinite, optimizer=opt,
                                     beta_relative=cfg.beta_relative)
    records = []
    for _ in range(num_steps):
        prompts = draw_prompts(prompt_pool, cfg.prompts_per_step, rng)
        records.append(rlhf_step(model, tokenizer, rewards, prompts, cfg, opt, stepper,
                                 seed=int(rng.integers(2**31))))
    return records


def objective_jacobian(model, tokenizer, rewards, prompts: list[str], cfg: RLHFConfig, seed: int, params):
    """(J (M, d) in the parameters' dtype, the batch): row m = grad of objective m's loss w.r.t. ``params``
    (flattened in the given order) on one seeded on-policy batch. ``cfg.grad_method`` "fast" has no
    per-objective gradients and falls back to "autograd" here."""
    batch = rollout_losses(model, tokenizer, rewards, prompts, cfg, seed)
    method = cfg.grad_method if cfg.grad_method in GRADIENT_METHODS else "autograd"
    return jacobian(batch.losses, params, method=method), batch


@torch.no_grad()
def evaluate(model, tokenizer, rewards, prompts: list[str], cfg: RLHFConfig, seed: int = 12345,
             group_size: int = 8) -> dict:
    """Mean reward per objective and KL of the current adapter on ``prompts`` (seeded sampling)."""
    rollout = sample_group(model, tokenizer, prompts, group_size, cfg.max_new_tokens, cfg.temperature, seed,
                           use_chat_template=cfg.use_chat_template, system_prompt=cfg.system_prompt)
    r = score(rewards, rollout.flat_prompts, rollout.completions)
    ref = reference_logprobs(model, rollout)
    logp = completion_logprobs(model, rollout)
    kl = float(((torch.exp(ref - logp) - (ref - logp) - 1) * rollout.completion_mask).sum(1).mean())
    return {"rewards": r.mean(axis=0), "kl": kl, "samples": rollout.completions[:: group_size]}
