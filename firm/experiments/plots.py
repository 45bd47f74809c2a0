"""PNG plots of federated runs and preference sweeps, from plain arrays.

Every function takes ``{label: array}`` mappings (one entry per algorithm), writes one PNG at ``path``
and returns the path. The figures are what ``firm run`` / ``firm sweep`` write and what the tests draw.
matplotlib's Agg backend is selected only when no backend was chosen (MPLBACKEND or an earlier
``matplotlib.use``), so headless runs work and interactive users keep theirs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from itertools import combinations
from pathlib import Path

import matplotlib
import numpy as np


def _backend_chosen() -> bool:
    """True when MPLBACKEND, a matplotlibrc or an earlier ``matplotlib.use`` picked a backend."""
    getter = getattr(matplotlib.rcParams, "_get_backend_or_none", None)
    if getter is not None:
        return getter() is not None
    return "MPLBACKEND" in os.environ


if not _backend_chosen():
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

#: Figure size (inches) and resolution of every PNG.
FIGSIZE = (7.0, 4.5)
DPI = 110

#: One colour and marker per algorithm, stable across figures (assigned in the order labels appear).
_COLORS = plt.get_cmap("tab10").colors
_MARKERS = "osD^vP*Xh<>"


#: Labels starting with this are FIRM's: drawn last (on top of the others) and outlined in black, so
#: the method the figures are about is never hidden under a baseline that lands at the same place.
HIGHLIGHT_PREFIX = "FIRM"
#: Final-point markers: the k-th drawn series gets size MARKER_MAX - MARKER_STEP * k (at least
#: MARKER_MIN), so coinciding points stack as concentric rims instead of hiding each other.
MARKER_MAX, MARKER_STEP, MARKER_MIN = 12.0, 1.2, 5.0


def _style(index: int) -> dict:
    return {"color": _COLORS[index % len(_COLORS)], "marker": _MARKERS[index % len(_MARKERS)]}


def _highlighted(label: str) -> bool:
    return label.startswith(HIGHLIGHT_PREFIX)


def _drawing_order(labels) -> list[int]:
    """Indices of ``labels`` in the order to draw them: the others first, FIRM's last (on top)."""
    labels = list(labels)
    return sorted(range(len(labels)), key=lambda i: _highlighted(labels[i]))


def _point_style(index: int, rank: int, label: str) -> dict:
    """Marker style of series ``index`` drawn ``rank``-th: shrinking sizes; FIRM's outlined in black."""
    style = _style(index)
    size = max(MARKER_MIN, MARKER_MAX - MARKER_STEP * rank)
    edge = {"markeredgecolor": "black", "markeredgewidth": 1.3} if _highlighted(label) else \
        {"markeredgecolor": "white", "markeredgewidth": 0.7}
    return {"marker": style["marker"], "color": style["color"], "markersize": size, "zorder": 3 + rank, **edge}


def _save(fig, path, *, tight: bool = True) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if tight:
        fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _curve(values, label: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"plots: the curve of {label!r} must be 1-D (one value per round), got shape {arr.shape}")
    return arr


def draw_log_curves(ax, curves: Mapping[str, np.ndarray], ylabel: str) -> None:
    """Draw positive curves on a log axis; name the curves that are all zero or undefined in the legend."""
    drawn = 0
    for i, (label, values) in enumerate(curves.items()):
        y = _curve(values, label)
        rounds = np.arange(len(y))
        finite = np.isfinite(y)
        positive = finite & (y > 0)
        style = _style(i)
        if not finite.any():
            ax.plot([], [], color=style["color"], label=f"{label} (not defined)")
            continue
        if not positive.any():
            ax.plot([], [], color=style["color"], label=f"{label} (= 0 every round)")
            continue
        every = max(1, len(curves), len(y) // 10)
        offset = (i * every) // max(1, len(curves))  # distinct offsets: coinciding curves show every marker
        top = _highlighted(label)
        ax.plot(rounds[positive], y[positive], label=label, color=style["color"], marker=style["marker"],
                markevery=(offset, every), markersize=4.5 if top else 4, linewidth=1.8 if top else 1.3,
                zorder=4 if top else 2)
        drawn += 1
    if drawn:
        ax.set_yscale("log")
    ax.set_xlabel("round t")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)


def plot_stationarity(
    curves: Mapping[str, np.ndarray], path, *,
    title: str = r"Pareto stationarity $\phi(x_t)=\min_{\lambda\in\Delta}\ \|J(x_t)^{\top}\lambda\|^2$",
) -> Path:
    """phi(x_t) = min_{lambda in simplex} ||J(x_t)^T lambda||^2 per round, log scale."""
    return _plot_log_curves(curves, path, r"$\phi(x_t)$  (log scale)", title)


def plot_disagreement(
    curves: Mapping[str, np.ndarray], path, *,
    title: str = r"Client disagreement $D_\lambda=\mathrm{mean}_i\ \|\lambda_i-\bar{\lambda}\|^2$",
) -> Path:
    """D_lambda = mean_i ||lambda_i - lambda_bar||^2 per round, log scale."""
    return _plot_log_curves(curves, path, r"$D_\lambda$  (log scale)", title)


def _plot_log_curves(curves: Mapping[str, np.ndarray], path, ylabel: str, title: str) -> Path:
    """One figure of :func:`draw_log_curves` with this y label and title, saved to ``path``."""
    fig, ax = plt.subplots(figsize=FIGSIZE)
    draw_log_curves(ax, curves, ylabel)
    ax.set_title(title)
    return _save(fig, path)


def _check_points(points, label: str, m: int | None = None) -> np.ndarray:
    arr = np.atleast_2d(np.asarray(points, dtype=float))
    if arr.ndim != 2 or (m is not None and arr.shape[1] != m):
        raise ValueError(f"plots: the points of {label!r} must have shape (n, {m or 'M'}), got shape {np.shape(points)}")
    return arr


def _num_objectives(series: Mapping[str, np.ndarray]) -> int:
    if not series:
        raise ValueError("plots: nothing to plot (no algorithms given)")
    first = next(iter(series.items()))
    return _check_points(first[1], first[0]).shape[1]


def plot_objectives(
    trajectories: Mapping[str, np.ndarray], path, *, front: np.ndarray | None = None,
    title: str = "Objective trajectories",
) -> Path:
    """Per-objective curves F_m(x_t) against the round (one panel per objective); for M = 2 a last
    panel shows the path of (F_1, F_2)(x_t) from start (open marker) to end (filled), over the
    analytic front when given."""
    m = _num_objectives(trajectories)
    panels = m + (1 if m == 2 else 0)
    fig, axes = plt.subplots(1, panels, figsize=(3.6 * panels, 3.9), squeeze=False)
    axes = axes[0]
    items = list(trajectories.items())
    for rank, i in enumerate(_drawing_order(label for label, _ in items)):
        label, values = items[i]
        f = _check_points(values, label, m)
        style, top = _style(i), _highlighted(label)
        for obj in range(m):
            axes[obj].plot(np.arange(len(f)), f[:, obj], color=style["color"], label=label,
                           linewidth=1.8 if top else 1.3, zorder=4 if top else 2)
        if m == 2:
            ax = axes[2]
            ax.plot(f[:, 0], f[:, 1], color=style["color"], linewidth=1.0, alpha=0.8, label=label, zorder=2)
            ax.plot(f[0, 0], f[0, 1], marker=style["marker"], color=style["color"], fillstyle="none", markersize=7)
            ax.plot(f[-1, 0], f[-1, 1], linestyle="none", **_point_style(i, rank, label))
    for obj in range(m):
        axes[obj].set_xlabel("round t")
        axes[obj].set_ylabel(f"$F_{obj + 1}(x_t)$")
        axes[obj].set_title(f"objective {obj + 1}")
        axes[obj].grid(True, alpha=0.3)
    if m == 2:
        ax = axes[2]
        if front is not None:
            fr = _check_points(front, "front", 2)
            ax.plot(fr[:, 0], fr[:, 1], color="black", linestyle="--", linewidth=1.2, label="analytic front")
        ax.set_xlabel("$F_1$")
        ax.set_ylabel("$F_2$")
        ax.set_title("path in objective space (open: start)")
        ax.grid(True, alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
    else:
        handles, labels = axes[0].get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda k: list(trajectories).index(labels[k]) if labels[k] in trajectories else -1)
    fig.suptitle(title)
    fig.tight_layout()
    # the legend goes beside the panels, where it covers no data
    fig.subplots_adjust(right=1 - 1.45 / fig.get_figwidth())
    fig.legend([handles[k] for k in order], [labels[k] for k in order], loc="center right", fontsize=7, frameon=False)
    return _save(fig, path, tight=False)


def _pairs(m: int) -> list[tuple[int, int]]:
    return list(combinations(range(m), 2))


def plot_front(
    points: Mapping[str, np.ndarray], path, *, front: np.ndarray | None = None, title: str = "Final points and the Pareto front",
    annotations: Mapping[str, str] | None = None,
) -> Path:
    """Points F(x) in objective space (one (n, M) array per algorithm) over the analytic front.
    M = 2: one panel; M >= 3: one panel per pair of objectives. ``annotations`` adds text per label
    to the legend (e.g. hypervolume and IGD)."""
    m = _num_objectives(points)
    pairs = _pairs(m)
    fig, axes = plt.subplots(1, len(pairs), figsize=(FIGSIZE[0] if m == 2 else 4.0 * len(pairs), FIGSIZE[1]), squeeze=False)
    axes = axes[0]
    fr = None if front is None else _check_points(front, "front", m)
    for ax, (a, b) in zip(axes, pairs, strict=True):
        if fr is not None:
            order = np.argsort(fr[:, a]) if m == 2 else slice(None)
            kw = {"linestyle": "--", "linewidth": 1.2} if m == 2 else {"linestyle": "none", "marker": ".", "markersize": 2, "alpha": 0.4}
            ax.plot(fr[order, a], fr[order, b], color="black", label="analytic front", **kw)
        items = list(points.items())
        for rank, i in enumerate(_drawing_order(label for label, _ in items)):
            label, values = items[i]
            p = _check_points(values, label, m)
            text = label if not annotations or label not in annotations else f"{label} ({annotations[label]})"
            ax.plot(p[:, a], p[:, b], linestyle="none", label=text, **_point_style(i, rank, label))
        ax.set_xlabel(f"$F_{a + 1}$")
        ax.set_ylabel(f"$F_{b + 1}$")
        ax.grid(True, alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    names = [k for k in points]
    order = sorted(range(len(labels)), key=lambda k: next((j for j, n in enumerate(names) if labels[k].startswith(n)), -1))
    axes[0].legend([handles[k] for k in order], [labels[k] for k in order], fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)
