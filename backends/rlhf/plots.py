"""Figures of a federated RLHF run (matplotlib, Agg): reward curves, lambda trajectories, D_lambda, Pareto."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _integer_rounds(axes) -> None:
    """Rounds are integers: no 1.25, 1.5, ... ticks on short runs."""
    from matplotlib.ticker import MaxNLocator

    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _series(rows, key) -> np.ndarray:
    return np.array([r.get(key, np.nan) for r in rows], dtype=np.float64)


def plot_reward_curves(rows: list[dict], objectives: list[str], path: Path) -> None:
    """Training reward per objective (solid) and evaluation reward of x_t (dots), and next to them the KL
    (training and evaluation) with the KL coefficient, per round."""
    plt = _plt()
    rounds = [r["round"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for m, name in enumerate(objectives):
        line, = axes[0].plot(rounds, _series(rows, f"train_reward_{name}"), marker="o", ms=3, label=f"{name} (training)")
        ev = _series(rows, f"reward_{name}")
        if np.isfinite(ev).any():
            axes[0].plot(rounds, ev, ls=":", marker="s", ms=3, color=line.get_color(), label=f"{name} (eval of x_t)")
    axes[0].set(xlabel="round", ylabel="mean reward", title="reward per objective")
    axes[0].legend(fontsize=7)
    axes[1].plot(rounds, _series(rows, "train_kl"), color="k", marker="o", ms=3, label="training")
    ev = _series(rows, "kl")
    if np.isfinite(ev).any():
        axes[1].plot(rounds, ev, color="gray", ls=":", marker="s", ms=3, label="eval of x_t")
    coef = _series(rows, "kl_coef")
    if np.isfinite(coef).any():  # the adaptive controller's coefficient, on its own axis
        twin = axes[1].twinx()
        twin.plot(rounds, coef, color="tab:red", ls="--", label="KL coefficient")
        twin.set_ylabel("KL coefficient", color="tab:red")
        twin.legend(fontsize=7, loc="lower right")
    axes[1].set(xlabel="round", ylabel="KL(policy || reference) per completion", title="KL to reference")
    axes[1].legend(fontsize=7)
    _integer_rounds(axes)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_lambda(rows: list[dict], objectives: list[str], preference, path: Path) -> None:
    """Each client's mean lambda per round (dotted: its preference) and D_lambda."""
    plt = _plt()
    rounds = [r["round"] for r in rows]
    lam = np.array([r["client_lambdas"] for r in rows], dtype=np.float64)  # (T, N, M)
    pref = np.atleast_2d(np.asarray(preference, dtype=np.float64))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for i in range(lam.shape[1]):
        for m, name in enumerate(objectives):
            axes[0].plot(rounds, lam[:, i, m], ls="-" if m == 0 else "--", label=f"client {i}: {name}")
    for p in np.unique(pref[:, 0]):
        axes[0].axhline(p, color="gray", lw=0.8, ls=":")
    axes[0].set(xlabel="round", ylabel="mean lambda over local steps", ylim=(-0.02, 1.02),
                title="each client's lambda (dotted: the preference)")
    axes[0].legend(fontsize=7)
    axes[1].plot(rounds, [r["record"].d_lambda for r in rows], marker="o", ms=3)
    axes[1].set(xlabel="round", ylabel=r"$D_\lambda=\mathrm{mean}_i\,\|\lambda_i-\bar\lambda\|^2$",
                title=r"client disagreement $D_\lambda$")
    _integer_rounds(axes)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_pareto(points: list[dict], objectives: list[str], path: Path) -> None:
    """Final evaluation rewards (first two objectives) for each preference in the sweep, each point
    labelled with its preference and its KL to the reference."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 4.2))
    init = points[0]["initial"]
    ax.scatter([init[0]], [init[1]], marker="x", color="k", label="initial policy")
    order = np.argsort([pt["preference"][0] for pt in points])
    ax.plot([points[k]["final"][0] for k in order], [points[k]["final"][1] for k in order], color="gray", lw=0.8)
    for pt in points:
        r = pt["final"]
        ax.scatter([r[0]], [r[1]], s=40)
        kl = pt.get("final_kl")
        kl_text = "" if kl is None or not np.isfinite(kl) else f", KL {kl:.2f}"
        ax.annotate(f"p={tuple(round(v, 2) for v in pt['preference'])}{kl_text}", (r[0], r[1]), fontsize=7,
                    textcoords="offset points", xytext=(4, 4))
    ax.set(xlabel=objectives[0], ylabel=objectives[1], title="final rewards over a preference sweep")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
