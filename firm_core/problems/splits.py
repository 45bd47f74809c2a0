"""Non-IID partitions of a labelled data set across clients (pure numpy)."""

from __future__ import annotations

import numpy as np

from ._checks import check_float, check_int

#: Redraws allowed before a Dirichlet split that leaves a client with too few samples gives up.
MAX_SPLIT_TRIES = 1000


def dirichlet_label_split(
    labels: np.ndarray, num_clients: int, alpha: float, rng: np.random.Generator, min_samples: int = 1
) -> list[np.ndarray]:
    """Split sample indices across clients, label by label, with Dirichlet(alpha) proportions.

    For each class c, q_c ~ Dirichlet(alpha 1_N) and the shuffled indices of class c are cut at the
    cumulative proportions round(n_c cumsum(q_c)). Every sample goes to exactly one client. Small
    alpha: each client sees few classes; alpha -> inf: every client gets the class mix of the whole
    set. The draw is repeated (up to MAX_SPLIT_TRIES) until every client has >= ``min_samples``.
    Returns one sorted index array per client.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"dirichlet_label_split: `labels` must be a non-empty 1-D array, got shape {labels.shape}")
    num_clients = check_int(num_clients, "num_clients", "dirichlet_label_split")
    alpha = check_float(alpha, "alpha", "dirichlet_label_split", strict=True)
    min_samples = check_int(min_samples, "min_samples", "dirichlet_label_split", minimum=0)
    if num_clients * min_samples > labels.size:
        raise ValueError(
            f"dirichlet_label_split: `min_samples` = {min_samples} for {num_clients} clients needs "
            f"{num_clients * min_samples} samples, only {labels.size} exist"
        )
    classes = np.unique(labels)
    for _ in range(MAX_SPLIT_TRIES):
        parts: list[list[np.ndarray]] = [[] for _ in range(num_clients)]
        for c in classes:
            idx = rng.permutation(np.flatnonzero(labels == c))
            q = rng.dirichlet(np.full(num_clients, alpha))
            cuts = np.round(np.cumsum(q)[:-1] * idx.size).astype(int)
            for i, chunk in enumerate(np.split(idx, cuts)):
                parts[i].append(chunk)
        out = [np.sort(np.concatenate(p)) for p in parts]
        if min(len(o) for o in out) >= min_samples:
            return out
    raise ValueError(
        f"dirichlet_label_split: no split with >= {min_samples} samples per client in {MAX_SPLIT_TRIES} draws "
        f"(alpha = {alpha}, num_clients = {num_clients}, {labels.size} samples): raise alpha or lower min_samples"
    )
