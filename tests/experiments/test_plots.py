"""The plot functions of firm run / firm sweep, on plain arrays: valid, non-blank PNGs; log axes;
bad shapes rejected with the label named."""

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest

from firm.experiments import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _read_png(path):
    assert path.read_bytes()[:8] == PNG_MAGIC
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    # a drawn figure has many distinct colours; a blank one has one
    assert len(np.unique(img.reshape(-1, img.shape[-1]), axis=0)) > 20
    return img


def _curves(rounds=30):
    t = np.arange(rounds)
    return {"FIRM": 2.0 ** -t, "FedAvg-LS": 1.0 / (1 + t), "FMGDA": np.full(rounds, np.nan), "zero": np.zeros(rounds)}


def test_stationarity_and_disagreement_pngs(tmp_path):
    for fn in (plots.plot_stationarity, plots.plot_disagreement):
        path = fn(_curves(), tmp_path / f"{fn.__name__}.png")
        img = _read_png(path)
        assert img.shape[:2] == (round(plots.FIGSIZE[1] * plots.DPI), round(plots.FIGSIZE[0] * plots.DPI))


def test_log_axis_and_legend_name_undefined_and_zero_curves():
    fig, ax = plt.subplots()
    plots.draw_log_curves(ax, _curves(), "phi")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    plt.close(fig)
    assert ax.get_yscale() == "log"
    assert labels == ["FIRM", "FedAvg-LS", "FMGDA (not defined)", "zero (= 0 every round)"]


def test_curve_shape_is_checked(tmp_path):
    with pytest.raises(ValueError, match="'bad'.*shape \\(3, 2\\)"):
        plots.plot_stationarity({"bad": np.ones((3, 2))}, tmp_path / "x.png")


@pytest.mark.parametrize("m", [2, 3])
def test_objectives_and_front_pngs(tmp_path, m):
    rng = np.random.default_rng(0)
    traj = {name: np.cumsum(rng.normal(size=(20, m)), axis=0) for name in ("FIRM", "FedCMOO")}
    s = np.linspace(0, 1, 50)
    front = np.stack([s, 1 - s] + [0.5 * np.ones_like(s)] * (m - 2), axis=1)
    _read_png(plots.plot_objectives(traj, tmp_path / "obj.png", front=front))
    finals = {k: v[-1:] for k, v in traj.items()}
    _read_png(plots.plot_front(finals, tmp_path / "front.png", front=front, annotations={"FIRM": "HV 0.5"}))


def test_points_with_wrong_number_of_objectives_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="'B'.*\\(n, 2\\)"):
        plots.plot_front({"A": np.ones((3, 2)), "B": np.ones((3, 3))}, tmp_path / "f.png")
    with pytest.raises(ValueError, match="nothing to plot"):
        plots.plot_objectives({}, tmp_path / "o.png")
