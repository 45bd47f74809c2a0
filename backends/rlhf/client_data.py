"""Per-client data and preferences of a federated RLHF run.

A client's prompt *mix* is a mapping {mix name: share} over the shipped prompt mixes
(``backends.rlhf.prompts.PROMPT_MIXES``); its pool holds round(share * pool_size) prompts of each mix,
drawn without replacement with ``default_rng([seed, client])``. Without mixes, the pools come from
``client_prompt_pools`` (a home mix per client, ``heterogeneity`` of the pool from it).

A client's preference p_i is a probability vector over the M objectives; without per-client
preferences every client uses the algorithm's shared p.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .prompts import PROMPT_MIXES, client_prompt_pools

#: Relative tolerance on the sum of a preference or a mix's shares (they are renormalized).
SUM_TOL = 1e-9


def parse_mix(text: str) -> dict[str, float]:
    """"opinions=0.7,documentation=0.3" (or just "opinions") -> {name: share}, shares normalized."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"a client mix must be 'name=share,...' or a mix name, got {text!r}")
    out: dict[str, float] = {}
    for part in text.split(","):
        name, _, share = part.strip().partition("=")
        try:
            out[name.strip()] = float(share) if share else 1.0
        except ValueError:
            raise ValueError(f"client mix {text!r}: share {share!r} of {name!r} is not a number") from None
    return check_mix(out)


def check_mix(mix: Mapping[str, float]) -> dict[str, float]:
    """Validate one client's {mix name: share >= 0} (positive total) and normalize the shares to sum 1."""
    if not isinstance(mix, Mapping) or not mix:
        raise ValueError(f"a client mix must be a non-empty mapping {{mix name: share}}, got {mix!r}")
    unknown = sorted(set(mix) - set(PROMPT_MIXES))
    if unknown:
        raise ValueError(f"client mix names {unknown} are not prompt mixes; known: {sorted(PROMPT_MIXES)}")
    shares = {k: float(v) for k, v in mix.items()}
    if any(not np.isfinite(v) or v < 0 for v in shares.values()) or not sum(shares.values()) > 0:
        raise ValueError(f"client mix shares must be finite, >= 0 and not all 0, got {dict(mix)}")
    total = sum(shares.values())
    return {k: v / total for k, v in shares.items()}


def pools_from_mixes(mixes: Sequence[Mapping[str, float]], seed: int = 0, pool_size: int = 16) -> list[list[str]]:
    """One prompt pool per client from its mix (see the module docstring); every pool is non-empty."""
    if pool_size < 1:
        raise ValueError(f"`pool_size` must be >= 1, got {pool_size}")
    pools = []
    for i, mix in enumerate(mixes):
        shares = check_mix(mix)
        rng = np.random.default_rng([int(seed), i])
        pool: list[str] = []
        for name in sorted(shares):
            prompts = PROMPT_MIXES[name]
            count = min(int(round(shares[name] * pool_size)), len(prompts))
            if count:
                pool.extend(str(prompts[j]) for j in rng.choice(len(prompts), size=count, replace=False))
        if not pool:
            raise ValueError(f"client {i}: mix {dict(mix)} gives no prompt with pool_size {pool_size}")
        pools.append(pool)
    return pools


def client_pools(num_clients: int, *, mixes=None, heterogeneity: float = 0.8, seed: int = 0) -> list[list[str]]:
    """Pools from per-client ``mixes`` (one per client) when given, else ``client_prompt_pools``."""
    if mixes is None:
        return client_prompt_pools(num_clients, heterogeneity, seed)
    if len(mixes) != num_clients:
        raise ValueError(f"`client_mixes` has {len(mixes)} entries for {num_clients} clients")
    return pools_from_mixes(mixes, seed)


def check_preferences(preferences, num_clients: int, num_objectives: int) -> np.ndarray | None:
    """Per-client preferences (N, M), each row a probability vector (renormalized), or None."""
    if preferences is None:
        return None
    p = np.asarray(preferences, dtype=np.float64)
    if p.shape != (num_clients, num_objectives):
        raise ValueError(f"`client_preferences` must have shape (N, M) = ({num_clients}, {num_objectives}), "
                         f"got {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0) or np.any(p.sum(axis=1) <= 0):
        raise ValueError(f"`client_preferences` rows must be finite, >= 0 with a positive sum, got {p.tolist()}")
    return p / p.sum(axis=1, keepdims=True)
