"""Federated multi-objective RLHF with simulated clients in one process.

All clients share ONE frozen base model; each round the server's adapter is loaded, a client runs its
local steps, and its adapter tensors (the only thing that travels: PEFT get/set_peft_model_state_dict)
are copied out. Memory therefore grows with the number of clients only by one adapter copy each.

    x_{t+1} = x_t + eta_g sum_i wbar_i (y_i - x_t)        (firm_core.federated.server.aggregate)

over the flattened LoRA tensors, wbar_i proportional to the client's prompt-pool size. Uplink bytes are
counted from the real uploaded tensors.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from firm_core.federated.metrics import lambda_disagreement  # D_lambda = mean_i ||lambda_i - lambda_bar||^2
from firm_core.federated.server import aggregate

from ._imports import require_llm_stack
from .policy import adapter_state, load_adapter_state, state_nbytes, state_to_vector, vector_to_state
from .prompts import all_prompts, client_prompt_pools
from .trainer import RLHFConfig, evaluate, local_steps

require_llm_stack()


@dataclass(frozen=True)
class FederatedConfig:
    num_clients: int = 2
    rounds: int = 10
    local_steps: int = 2
    heterogeneity: float = 0.8
    server_lr: float = 1.0
    seed: int = 0
    eval_samples: int = 8  # completions per prompt in the initial / final evaluation

    def __post_init__(self):
        if self.eval_samples < 2:
            raise ValueError(f"FederatedConfig: `eval_samples` must be >= 2, got {self.eval_samples}")
        for name in ("num_clients", "rounds", "local_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"FederatedConfig: `{name}` must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.heterogeneity <= 1:
            raise ValueError(f"FederatedConfig: `heterogeneity` must be in [0, 1], got {self.heterogeneity}")
        if not self.server_lr > 0:
            raise ValueError(f"FederatedConfig: `server_lr` must be > 0, got {self.server_lr}")


@dataclass
class RoundLog:
    round: int
    rewards: np.ndarray  # (M,) mean training reward per objective over all clients' local steps
    kl: float  # mean per-completion KL(pi || ref) over the local steps
    client_weights: np.ndarray  # (N, M) each client's mean lambda over its local steps
    d_lambda: float  # mean_i ||lambda_i - lambda_bar||^2
    uplink_bytes: int
    downlink_bytes: int
    skipped_steps: int
    seconds: float


@dataclass
class FederatedResult:
    objectives: list[str]
    preference: np.ndarray
    rounds: list[RoundLog] = field(default_factory=list)
    initial_eval: dict = field(default_factory=dict)
    final_eval: dict = field(default_factory=dict)
    final_state: dict = field(default_factory=dict)

    def weighted(self, rewards) -> float:
        return float(np.dot(self.preference, rewards))

    def to_dict(self) -> dict:
        return {
            "objectives": self.objectives,
            "preference": self.preference.tolist(),
            "initial_eval": {k: np.asarray(v).tolist() if k == "rewards" else v for k, v in self.initial_eval.items()},
            "final_eval": {k: np.asarray(v).tolist() if k == "rewards" else v for k, v in self.final_eval.items()},
            "rounds": [{"round": r.round, "rewards": r.rewards.tolist(), "kl": r.kl,
                        "client_weights": r.client_weights.tolist(), "d_lambda": r.d_lambda,
                        "uplink_bytes": r.uplink_bytes, "downlink_bytes": r.downlink_bytes,
                        "skipped_steps": r.skipped_steps, "seconds": r.seconds} for r in self.rounds],
        }


def run_federated(model, tokenizer, rewards, cfg: RLHFConfig, fed: FederatedConfig, init_state: dict | None = None,
                  prompt_pools: list[list[str]] | None = None, eval_prompts: list[str] | None = None,
                  progress: bool = True, desc: str = "federated RLHF",
                  evaluate_ends: bool = True) -> FederatedResult:
    """Run ``fed.rounds`` rounds of federated RLHF; the model's adapter holds the final global state.

    With ``evaluate_ends`` the initial and final global adapters are evaluated on ``eval_prompts``
    (default: all shipped prompts, 8 seeded samples each)."""
    from tqdm.auto import tqdm

    m = len(rewards)
    pref = cfg.preference_vector(m)
    pools = prompt_pools or client_prompt_pools(fed.num_clients, fed.heterogeneity, fed.seed)
    if len(pools) != fed.num_clients:
        raise ValueError(f"`prompt_pools` has {len(pools)} pools for {fed.num_clients} clients")
    client_w = np.array([len(p) for p in pools], dtype=np.float64)
    eval_prompts = eval_prompts or all_prompts()
    state = {k: v.clone() for k, v in (init_state or adapter_state(model)).items()}
    result = FederatedResult([r.name for r in rewards], pref)
    load_adapter_state(model, state)
    if evaluate_ends:
        result.initial_eval = evaluate(model, tokenizer, rewards, eval_prompts, cfg, seed=fed.seed + 777,
                                           group_size=fed.eval_samples)
    x = state_to_vector(state)
    bar = tqdm(range(fed.rounds), desc=desc, disable=not progress, leave=False)
    for t in bar:
        t0 = time.perf_counter()
        uploads, lam, recs_all, uplink = [], [], [], 0
        for i, pool in enumerate(pools):
            load_adapter_state(model, state)
            rng = np.random.default_rng([fed.seed, t, i])
            recs = local_steps(model, tokenizer, rewards, pool, cfg, fed.local_steps, rng)
            up = adapter_state(model)
            uplink += state_nbytes(up)
            uploads.append(state_to_vector(up))
            good = [r.weights for r in recs if not r.skipped]
            lam.append(np.mean(good, axis=0) if good else np.full(m, np.nan))
            recs_all.extend(recs)
        x = aggregate(x, np.stack(uploads), client_w, fed.server_lr)
        state = vector_to_state(x, state)
        lam = np.array(lam)
        ok = ~np.isnan(lam).any(axis=1)
        log = RoundLog(
            round=t + 1,
            rewards=np.mean([r.rewards for r in recs_all], axis=0),
            kl=float(np.mean([r.kl for r in recs_all])),
            client_weights=lam,
            d_lambda=lambda_disagreement(lam[ok]) if ok.any() else float("nan"),
            uplink_bytes=uplink,
            downlink_bytes=fed.num_clients * state_nbytes(state),
            skipped_steps=sum(r.skipped for r in recs_all),
            seconds=time.perf_counter() - t0,
        )
        result.rounds.append(log)
        bar.set_postfix({n[:8]: f"{v:+.3f}" for n, v in zip(result.objectives, log.rewards, strict=True)}
                        | {"kl": f"{log.kl:.3f}"})
    load_adapter_state(model, state)
    if evaluate_ends:
        result.final_eval = evaluate(model, tokenizer, rewards, eval_prompts, cfg, seed=fed.seed + 777,
                                           group_size=fed.eval_samples)
    result.final_state = {k: v.detach().clone() for k, v in state.items()}
    return result


def save_adapter(model, state: dict, out_dir) -> None:
    """Write ``state`` as a PEFT adapter (adapter_model.safetensors + adapter_config.json)."""
    load_adapter_state(model, state)
    model.save_pretrained(str(out_dir), safe_serialization=True)
