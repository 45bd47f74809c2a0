"""Per-objective group-normalized advantages and policy-gradient losses with a KL penalty.

For prompt b, completion g and objective m with reward r_{b,g,m}:

    GRPO:  A_{b,g,m} = (r_{b,g,m} - mean_g r_{b,.,m}) / (std_g r_{b,.,m} + eps)
    RLOO:  A_{b,g,m} = r_{b,g,m} - mean_{g' != g} r_{b,g',m} = G/(G-1) (r_{b,g,m} - mean_g r_{b,.,m})

Loss of objective m over the n = B*G completions (T_max = max new tokens, on-policy, ratio 1):

    L_m = -(1/n) sum_i A_{i,m} sum_t log pi(y_{i,t}) / T_max + kl_coef * KL_hat
    KL_hat = (1/n) sum_i sum_t k3(i,t) / T_max,  k3 = exp(ref - logp) - (ref - logp) - 1 >= 0

(dividing by the constant T_max, not each completion's length, keeps the gradient free of a length
bias, which matters when one objective is brevity). The KL term is shared by all objectives, so it
enters J^T lambda with weight sum(lambda) = 1.
"""

from __future__ import annotations

import numpy as np

from ._imports import require_llm_stack

require_llm_stack()

import torch  # noqa: E402

ADVANTAGE_KINDS = ("grpo", "rloo")
#: added to the group standard deviation (GRPO) so a constant group gives zero advantage, not NaN
ADVANTAGE_EPS = 1e-6


def group_advantages(rewards: np.ndarray, group_size: int, kind: str = "grpo") -> np.ndarray:
    """Advantages (n, M) from rewards (n, M), n = B * group_size rows grouped prompt-major."""
    r = np.asarray(rewards, dtype=np.float64)
    if r.ndim != 2:
        raise ValueError(f"`rewards` must be (n, M), got shape {r.shape}")
    if group_size < 2 or r.shape[0] % group_size:
        raise ValueError(f"`group_size` must be >= 2 and divide n = {r.shape[0]}, got {group_size}")
    if kind not in ADVANTAGE_KINDS:
        raise ValueError(f"`kind` must be one of {ADVANTAGE_KINDS}, got {kind!r}")
    g = r.reshape(-1, group_size, r.shape[1])
    centered = g - g.mean(axis=1, keepdims=True)
    if kind == "grpo":
        adv = centered / (g.std(axis=1, keepdims=True) + ADVANTAGE_EPS)
    else:
        adv = centered * group_size / (group_size - 1)
    return adv.reshape(r.shape)


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimator of KL(pi || ref): exp(ref - logp) - (ref - logp) - 1, masked."""
    d = (ref_logp - logp) * mask
    return (torch.exp(d) - d - 1.0) * mask


def policy_gradient_losses(logp: torch.Tensor, ref_logp: torch.Tensor, mask: torch.Tensor,
                           advantages: np.ndarray, kl_coef: float, max_new_tokens: int):
    """(list of M scalar losses, per-completion KL estimate sum_t k3) following the module formula."""
    if kl_coef < 0:
        raise ValueError(f"`kl_coef` must be >= 0, got {kl_coef}")
    n = logp.shape[0]
    adv = torch.as_tensor(advantages, dtype=logp.dtype, device=logp.device)
    if adv.shape[0] != n:
        raise ValueError(f"`advantages` has {adv.shape[0]} rows, the rollout {n}")
    seq_logp = (logp * mask).sum(dim=1) / max_new_tokens  # (n,)
    kl_seq = kl_k3(logp, ref_logp, mask).sum(dim=1).mean()  # per-completion KL estimate (reported)
    losses = [-(adv[:, m] * seq_logp).mean() + kl_coef * kl_seq / max_new_tokens for m in range(adv.shape[1])]
    return losses, kl_seq.detach()
