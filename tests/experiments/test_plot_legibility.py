"""The figures are legible: FIRM is never hidden under a baseline, and no title or label is clipped.

Each plot function is run with ``_save`` wrapped so the finished figure can be inspected before it
is closed: the artists' z-order, and every text's rendered extent against the figure's edges.
"""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pytest

from backends.rlhf import plots as rlhf_plots
from firm.experiments import plots

LABELS = ("FIRM (beta=50)", "Local-MGDA", "FedAvg-LS", "FMGDA", "FSMGDA", "FedCMOO")


@pytest.fixture
def captured(monkeypatch):
    """Figures passed to plots._save, drawn, before they are saved and closed."""
    figs = []
    original = plots._save

    def keep(fig, path, **kw):
        out = original(fig, path, **kw)
        figs.append(fig)
        return out

    monkeypatch.setattr(plots, "_save", keep)
    monkeypatch.setattr(plt, "close", lambda fig=None: None)  # keep the figure alive for inspection
    yield figs


def drawn_texts(fig) -> list:
    """Titles, axis labels, legend texts and the tick labels of ticks inside the view (the ones drawn)."""
    texts = [fig._suptitle] if fig._suptitle is not None else []
    for legend in fig.legends:
        texts += legend.get_texts()
    for ax in fig.axes:
        texts += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label]
        if ax.get_legend() is not None:
            texts += ax.get_legend().get_texts()
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            texts += [tick.label1 for tick in axis.get_major_ticks() if lo <= tick.get_loc() <= hi]
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def clipped_texts(fig) -> list[str]:
    """Drawn texts whose rendered box leaves the figure."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    w, h = fig.bbox.width, fig.bbox.height
    out = []
    for text in drawn_texts(fig):
        box = text.get_window_extent(renderer)
        if box.x0 < -1 or box.y0 < -1 or box.x1 > w + 1 or box.y1 > h + 1:
            out.append(text.get_text())
    return out


def data_lines(ax, labels):
    return {line.get_label(): line for line in ax.get_lines() if line.get_label() in labels}


def test_front_draws_firm_on_top_of_coinciding_baselines(tmp_path, captured):
    same = {label: np.array([[1.0, 2.0]]) for label in LABELS}  # every algorithm at the same point
    plots.plot_front(same, tmp_path / "front.png", front=np.array([[0.0, 3.0], [3.0, 0.0]]))
    lines = data_lines(captured[-1].axes[0], LABELS)
    firm = lines[LABELS[0]]
    assert firm.get_zorder() > max(line.get_zorder() for label, line in lines.items() if label != LABELS[0])
    assert firm.get_markeredgecolor() == "black"
    sizes = [lines[label].get_markersize() for label in LABELS[1:]]  # the ones below are larger: their rims show
    assert sizes == sorted(sizes, reverse=True) and min(sizes) > firm.get_markersize() - 1e-9 - plots.MARKER_STEP
    legend = [t.get_text() for t in captured[-1].axes[0].get_legend().get_texts()]
    assert legend[1:] == list(LABELS)  # legend keeps the caller's order (after the analytic front)


def test_log_curves_put_firm_on_top_and_interleave_markers(tmp_path, captured):
    t = np.arange(50.0)
    curves = {label: np.exp(-t / 10) for label in LABELS}  # identical curves
    plots.plot_stationarity(curves, tmp_path / "phi.png")
    lines = data_lines(captured[-1].axes[0], LABELS)
    assert lines[LABELS[0]].get_zorder() > max(lines[label].get_zorder() for label in LABELS[1:])
    starts = {lines[label].get_markevery()[0] for label in LABELS}
    assert len(starts) == len(LABELS)  # each curve puts its markers at different rounds


@pytest.mark.slow
@pytest.mark.parametrize("m", [2, 3])
def test_no_run_figure_clips_a_title_or_label(tmp_path, captured, m):
    rng = np.random.default_rng(0)
    traj = {label: np.cumsum(rng.normal(size=(30, m)), axis=0) for label in LABELS}
    front = np.stack([np.linspace(0, 1, 20)] * m, axis=1)
    prefix = "a-long-experiment-name: "
    plots.plot_stationarity({k: np.abs(v[:, 0]) for k, v in traj.items()}, tmp_path / "a.png",
                            title=prefix + r"Pareto stationarity $\phi(x_t)=\min_{\lambda\in\Delta}\ \|J(x_t)^{\top}\lambda\|^2$")
    plots.plot_disagreement({k: np.abs(v[:, 0]) for k, v in traj.items()}, tmp_path / "b.png")
    plots.plot_objectives(traj, tmp_path / "c.png", front=front, title=prefix + "objective trajectories")
    plots.plot_front({k: v[-1:] for k, v in traj.items()}, tmp_path / "d.png", front=front,
                     title=prefix + "final points F(x_T) and the analytic Pareto front")
    for fig in captured:
        assert clipped_texts(fig) == []


def test_objectives_legend_sits_beside_the_panels(tmp_path, captured):
    traj = {label: np.linspace([30.0, 30.0], [10.0, 12.0], 20) for label in LABELS}
    plots.plot_objectives(traj, tmp_path / "obj.png")
    fig = captured[-1]
    fig.canvas.draw()
    legend_box = fig.legends[0].get_window_extent()
    assert all(legend_box.x0 >= ax.get_window_extent().x1 for ax in fig.axes)


def test_rlhf_lambda_figure_clips_no_title(tmp_path, monkeypatch):
    figs = []
    monkeypatch.setattr(plt, "close", lambda fig=None: figs.append(fig))
    names = ["positive_sentiment", "brevity"]
    rows = [{"round": t, "client_lambdas": [[0.5, 0.5], [0.6, 0.4]], "record": SimpleNamespace(d_lambda=0.01 * t),
             "train_kl": 0.1 * t,
             "kl": 0.1 * t, **{f"train_reward_{n}": 0.1 * t for n in names}, **{f"reward_{n}": 0.2 for n in names}}
            for t in range(1, 4)]
    rlhf_plots.plot_lambda(rows, names, [0.5, 0.5], tmp_path / "lambda_trajectories.png")
    rlhf_plots.plot_reward_curves(rows, names, tmp_path / "reward_curves.png")
    for fig in figs:
        assert clipped_texts(fig) == []
        for ax in fig.axes:  # rounds are integers
            assert all(float(v).is_integer() for v in ax.get_xticks())


def test_the_clipping_check_catches_a_clipped_title(tmp_path):
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.set_title("client disagreement mean_i ||lambda_i - lambda_bar||^2 over every round of the run")
    fig.tight_layout()
    assert clipped_texts(fig) != []
    plt.close(fig)
