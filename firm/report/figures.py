"""The report's figures, drawn from a results dict (results.json) only, so the notebook redraws them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from firm_core.federated import DISPLAY_NAMES

COLORS = {"firm": "C3", "local_mgda": "C0", "fedavg_ls": "C2", "fmgda": "C1", "fsmgda": "C4", "fedcmoo": "C5"}


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _band(ax, series_list, color, label, x=None):
    arr = np.asarray(series_list, dtype=np.float64)
    if arr.size == 0 or not np.isfinite(arr).any():
        return
    med = np.nanmedian(arr, axis=0)
    lo, hi = np.nanpercentile(arr, 25, axis=0), np.nanpercentile(arr, 75, axis=0)
    x = np.arange(med.size) if x is None else x
    ax.plot(x, med, color=color, label=label, lw=1.5)
    ax.fill_between(x, lo, hi, color=color, alpha=0.2, lw=0)


def dynamics_figure(results: dict, path) -> Path:
    """phi, F_1 and lambda_1 per round (median and IQR over seeds) for every algorithm and problem."""
    plt = _plt()
    runs = results["sections"]["dynamics"]["runs"]
    probs = list(runs)
    fig, axes = plt.subplots(len(probs), 3, figsize=(13, 3.6 * len(probs)), squeeze=False)
    for row, prob in enumerate(probs):
        for algo, rs in runs[prob].items():
            c, name = COLORS.get(algo), DISPLAY_NAMES[algo]
            _band(axes[row, 0], [r["phi"] for r in rs], c, name)
            _band(axes[row, 1], [[o[0] for o in r["objectives"]] for r in rs], c, name)
            _band(axes[row, 2], [[lam[0] if lam[0] is not None else np.nan for lam in r["lambda"]] for r in rs], c, name)
        axes[row, 0].set_yscale("log")
        for ax, title in zip(axes[row], ("phi(x_t)", "F_1(x_t)", "lambda_1 (clients' mean or server's)")):
            ax.set_title(f"{prob}: {title}", fontsize=9)
            ax.set_xlabel("round")
    axes[0, 0].legend(fontsize=7)
    return _save(fig, path)


def drift_figure(results: dict, path) -> Path:
    """D_lambda and D_x per round (median over seeds); late-round D_lambda vs beta, vs data and preference
    heterogeneity (median and IQR)."""
    plt = _plt()
    d = results["sections"]["drift"]
    prob = d["drift_problem"]
    fig, axes = plt.subplots(1, 5, figsize=(20, 3.6))
    for algo, s in d["per_round"][prob].items():
        for ax, key in zip(axes[:2], ("d_lambda", "d_x")):
            y = None if s[key] is None else np.asarray([np.nan if v is None else v for v in s[key]], dtype=float)
            if y is not None and np.any(y > 0):  # D_lambda is 0 by construction for FedAvg-LS and FedCMOO
                ax.plot(np.where(y > 0, y, np.nan), color=COLORS.get(algo), label=DISPLAY_NAMES[algo])
    for ax, key in zip(axes[:2], ("D_lambda", "D_x")):
        ax.set_yscale("log")
        ax.set_title(f"{prob}: {key} per round (median over seeds)", fontsize=9)
        ax.set_xlabel("round")
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7)
    betas = [float(b) for b in d["vs_beta"]]
    _errorbars(axes[2], betas, [d["vs_beta"][str_key] for str_key in d["vs_beta"]], "firm", "FIRM")
    axes[2].set_xscale("symlog", linthresh=0.1)
    axes[2].set_title("late D_lambda vs beta (FIRM)", fontsize=9)
    axes[2].set_xlabel("beta")
    for ax, key, title in ((axes[3], "vs_heterogeneity", "data heterogeneity"),
                           (axes[4], "vs_preference_heterogeneity", "preference heterogeneity")):
        levels = [float(h) for h in d[key]]
        for algo in next(iter(d[key].values())):
            _errorbars(ax, levels, [d[key][h][algo] for h in d[key]], algo, DISPLAY_NAMES[algo])
        ax.set_title(f"late D_lambda vs {title}", fontsize=9)
        ax.set_xlabel(title)
        ax.legend(fontsize=7)
    axes[2].set_yscale("log")
    axes[3].set_yscale("log")
    axes[4].set_yscale("symlog", linthresh=1e-4)  # FedAvg-LS's D_lambda is 0 at kappa = 0
    from matplotlib.ticker import LogFormatterSciNotation

    for ax in axes[2:4]:  # values within one decade: label the minor ticks too
        ax.yaxis.set_minor_formatter(LogFormatterSciNotation(minor_thresholds=(2, 0.5)))
    return _save(fig, path)


def _errorbars(ax, x, spreads, algo, label):
    med = np.array([np.nan if s["d_lambda"]["median"] is None else s["d_lambda"]["median"] for s in spreads])
    lo = np.array([np.nan if s["d_lambda"]["q25"] is None else s["d_lambda"]["q25"] for s in spreads])
    hi = np.array([np.nan if s["d_lambda"]["q75"] is None else s["d_lambda"]["q75"] for s in spreads])
    ax.errorbar(x, med, yerr=[med - lo, hi - med], color=COLORS.get(algo), label=label, marker="o", capsize=3)


def tradeoffs_figure(results: dict, path) -> Path:
    """Final F(x_T) of the preference sweep (every seed) against the analytic front, per problem."""
    plt = _plt()
    t = results["sections"]["tradeoffs"]
    probs = list(t["problems"])
    fig, axes = plt.subplots(1, len(probs), figsize=(6.5 * len(probs), 5), squeeze=False)
    for ax, prob in zip(axes[0], probs):
        e = t["problems"][prob]
        front = np.asarray(e["front"])
        ax.plot(front[:, 0], front[:, 1], "k-", lw=1, label="analytic front")
        for algo, a in e["algorithms"].items():
            pts = np.asarray(a["finals"], dtype=float).reshape(-1, 2)
            hv, igd = a["hypervolume"]["median"], a["igd"]["median"]
            ax.scatter(pts[:, 0], pts[:, 1], s=14, color=COLORS.get(algo), alpha=0.7,
                       label=f"{DISPLAY_NAMES[algo]} (HV {hv:.3g}, IGD {igd:.3g})")
        ax.set_title(f"{prob}: preference sweep, final F(x_T), all seeds", fontsize=9)
        ax.set_xlabel("F_1")
        ax.set_ylabel("F_2")
        ax.legend(fontsize=7)
    return _save(fig, path)


def preference_figure(results: dict, path) -> Path:
    """Median final F_1, F_2 and lambda_1 against p_1, per algorithm and problem."""
    plt = _plt()
    pr = results["sections"]["preference"]
    p1 = np.asarray(pr["preferences"])
    probs = list(pr["problems"])
    fig, axes = plt.subplots(len(probs), 3, figsize=(13, 3.6 * len(probs)), squeeze=False)
    for row, prob in enumerate(probs):
        for algo, v in pr["problems"][prob].items():
            for ax, key in zip(axes[row], ("f1", "f2", "lambda1")):
                y = np.asarray([np.nan if u is None else u for u in v[key]], dtype=float)
                ax.plot(p1, y, marker="o", color=COLORS.get(algo), label=DISPLAY_NAMES[algo])
        for ax, key in zip(axes[row], ("final F_1", "final F_2", "final-round lambda_1")):
            ax.set_title(f"{prob}: {key} vs p_1 (median over seeds)", fontsize=9)
            ax.set_xlabel("p_1")
    axes[0, 0].legend(fontsize=7)
    return _save(fig, path)


def communication_figure(results: dict, path) -> Path:
    """phi against cumulative serialized uplink bytes (median run), per problem; the target phi dashed."""
    plt = _plt()
    dyn = results["sections"]["dynamics"]["runs"]
    comm = results["sections"]["communication"]["problems"]
    probs = list(dyn)
    fig, axes = plt.subplots(1, len(probs), figsize=(6.5 * len(probs), 4), squeeze=False)
    for ax, prob in zip(axes[0], probs):
        for algo, rs in dyn[prob].items():
            phi = np.nanmedian(np.asarray([r["phi"] for r in rs], dtype=float), axis=0)
            cum = np.concatenate([[0.0], np.cumsum(np.median([r["uplink_serialized"] for r in rs], axis=0))])
            ax.plot(cum, phi, color=COLORS.get(algo), label=DISPLAY_NAMES[algo])
        ax.axhline(comm[prob]["target_phi"], color="k", ls="--", lw=0.8, label="target phi")
        ax.set_yscale("log")
        ax.set_xlabel("cumulative uplink bytes (serialized messages)")
        ax.set_ylabel("phi")
        ax.set_title(f"{prob}: phi vs uplink", fontsize=9)
        ax.legend(fontsize=7)
    return _save(fig, path)


def llm_figure(results: dict, path) -> Path:
    """Per LLM block: the final evaluation rewards (median over seeds) of every algorithm, FIRM's and
    FedAvg-LS's joined across preferences (p_1 written next to each point), x_0 as a black cross; and the
    clients' training reward at uniform p per round (median over seeds, the objectives' mean, normalized)."""
    plt = _plt()
    blocks = results["sections"]["llm"]["blocks"]
    fig, axes = plt.subplots(2, len(blocks), figsize=(6.5 * len(blocks), 8.5), squeeze=False)
    for col, (label, b) in enumerate(blocks.items()):
        ax, names = axes[0, col], b["objectives"]
        for algo, v in b["scores"]["stats"].items():
            pts = np.asarray(v["raw_final_by_preference"], dtype=float)
            if not v["reads_preference"]:
                pts = pts[:1]
            ax.plot(pts[:, 0], pts[:, 1], "o-" if len(pts) > 1 else "s", color=COLORS.get(algo),
                    label=DISPLAY_NAMES[algo], ms=6 if algo != "firm" else 8, zorder=3 if algo == "firm" else 2)
            if v["reads_preference"]:
                for p, q in zip(b["suite"]["preferences"], pts):
                    ax.annotate(f"p1={p[0]:g}", q, fontsize=7, color=COLORS.get(algo), xytext=(3, 3),
                                textcoords="offset points")
        x0 = b["initial"]["rewards"]
        ax.plot([x0[0]], [x0[1]], "kx", ms=9, label="x_0")
        ax.set_xlabel(f"{names[0]} reward r_1(x_T)")
        ax.set_ylabel(f"{names[1]} reward r_2(x_T)")
        ax.set_title(f"LLM {label}: final rewards per preference", fontsize=9)
        ax.legend(fontsize=7, loc="best")
        _llm_training(axes[1, col], label, b)
    return _save(fig, path)


def _llm_training(ax, label, b):
    from .llm import range_normalizer

    runs, m = b["runs"], len(b["objectives"])
    norm = range_normalizer([t for r in runs for t in r["train_rewards"]])
    algos = [a for a in b["suite"]["algorithms"] if a != "firm"] + ["firm"]  # FIRM drawn last, on top
    for algo in algos:
        rs = [r for r in runs if r["algorithm"] == algo and abs(r["preference"][0] - 1.0 / m) < 1e-9]
        curves = [np.mean(norm(r["train_rewards"]), axis=1) for r in rs]
        _band(ax, curves, COLORS.get(algo), DISPLAY_NAMES[algo], x=np.arange(1, len(curves[0]) + 1) if curves else None)
    ax.set_xticks(np.arange(1, b["suite"]["rounds"] + 1))
    ax.set_xlabel("round (FIRM on top; curves that coincide hide the ones drawn before them)")
    ax.set_ylabel("training reward (normalized, mean over objectives)")
    ax.set_title(f"LLM {label}: clients' training reward at uniform p", fontsize=9)
    ax.legend(fontsize=7)


FIGURES = (("dynamics", dynamics_figure), ("drift", drift_figure), ("tradeoffs", tradeoffs_figure),
           ("preference", preference_figure), ("communication", communication_figure), ("llm", llm_figure))


def drawable(results: dict) -> list[str]:
    """Names of the figures ``results`` can draw: those whose sections are there (the communication figure
    also needs the dynamics runs; the LLM figure a section that ran)."""
    have = results["sections"]
    return [name for name, _ in FIGURES if name in have and (name != "communication" or "dynamics" in have)
            and (name != "llm" or have["llm"].get("status") == "run")]


def draw_all(results: dict, out_dir) -> list[Path]:
    """Every figure whose section is in ``results`` (:func:`drawable`); returns the PNG paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = drawable(results)
    return [fn(results, out_dir / f"{name}.png") for name, fn in FIGURES if name in names]


def _save(fig, path) -> Path:
    path = Path(path)
    fig.tight_layout()
    fig.savefig(path, dpi=80, metadata={"Software": None})
    _plt().close(fig)
    return path
