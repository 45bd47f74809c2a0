"""The LLM section: FIRM's claims measured on the federated LoRA RLHF task, from an LLM provider's runs.

The provider runs the task (``fn(quick, progress, workdir) -> {"blocks": {label: block}, "seconds"}``;
the RLHF backend's is found through the ``firm.report`` entry point ``llm``, or one is registered with
:func:`register_llm_provider`). A block holds its suite settings, its objectives, the rewards of the
initial adapter, the serialized upload sizes and one dict per run (see the backend's ``report_runs``).
This module scores the runs with the toy sections' measures and verdict rule, per block:

- dynamics: excess variation of the training rewards per round (summed over objectives; lower is smoother);
- drift: mean D_lambda over the rounds (FIRM vs Local-MGDA: the others have no per-client lambda) and mean D_x;
- trade-offs: rewards normalized per objective to [0, 1] over the block's final points (and x_0);
  hypervolume of an algorithm's final points across preferences (minimizing 1 - r, reference 1.1 each)
  and the mean over preferences of p . r(x_T) (a baseline that reads no preference: its one point);
- communication: serialized upload bytes per client per round, and the uplink to reach a target
  normalized training reward p . r_t at p uniform (target: the lowest of the algorithms' median best);
- preference following: normalized r_1(x_T) and lambda_1 against p_1 (monotone fraction, coverage).
Convergence certificates need constants an LLM does not give: the section says so.
"""

from __future__ import annotations

import numpy as np

from firm_core import pareto

from . import measures as ms
from . import verdicts as vd

#: entry-point group and name under which a backend offers the LLM runs
ENTRY_POINT_GROUP = "firm.report"
ENTRY_POINT_NAME = "llm"
#: hypervolume reference of the normalized rewards (minimizing 1 - r in [0, 1]^M)
HV_REFERENCE = 1.1
#: a reward whose final values span less than this (relative to their size) is constant: its normalized
#: values are 0, not float round-off blown up to [0, 1] (means over samples summed in different orders)
NORMALIZE_MIN_SPAN = 1e-9
#: a move of r_1 against the preference of at most this (normalized units) still follows it
MONOTONE_ATOL = 0.02
#: FIRM's lambda_1 must follow p_1 on at least this fraction of neighbouring preference pairs
LAMBDA_MONOTONE_MIN = 1.0
#: the claims this section scores, in the report's order
CLAIMS = ("dynamics", "drift", "tradeoffs", "communication", "preference")

_DISCOVER = object()
_PROVIDER = _DISCOVER


def register_llm_provider(fn) -> None:
    """Use ``fn(quick, progress, workdir)`` for the LLM section; None: no provider (the section is not
    run). Until this is called the provider is looked up through the entry point."""
    global _PROVIDER
    if fn is not None and not callable(fn):
        raise TypeError(f"register_llm_provider: `fn` must be callable or None, got {fn!r}")
    _PROVIDER = fn


def _discover():
    """(provider or None, why not): the entry point's provider, or the reason it cannot be used."""
    from importlib.metadata import entry_points

    eps = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == ENTRY_POINT_NAME]
    if not eps:
        return None, "no LLM backend is installed"
    try:
        return eps[0].load(), ""
    except ImportError as exc:
        return None, f"the LLM backend cannot be imported ({exc})"


def run_llm_section(config, progress: bool, workdir) -> dict:
    """The provider's runs scored claim by claim, or "not run" and why."""
    if not config.llm:
        return {"status": "not run", "verdict": vd.not_run_verdict("the LLM part is switched off in this suite")}
    provider, why = (_PROVIDER, "no LLM provider is registered") if _PROVIDER is not _DISCOVER else _discover()
    if provider is None:
        return {"status": "not run", "verdict": vd.not_run_verdict(
            f"{why}; install the extras with pip install 'firm[torch,align]' and rerun")}
    raw = provider(config.quick, progress, workdir)
    return score_llm(raw)


# --- scoring -------------------------------------------------------------------------------------------
def _preference_key(p) -> str:
    return ",".join(f"{v:g}" for v in p)


def normalizer(block: dict):
    """r -> (r - lo) / (hi - lo) per objective, lo / hi over the block's final points and x_0's rewards."""
    pts = np.array([r["final_rewards"] for r in block["runs"]] + [block["initial"]["rewards"]], dtype=np.float64)
    return range_normalizer(pts)


def range_normalizer(points):
    """r -> (r - lo) / (hi - lo) per column of ``points`` (NaN ignored); a column spanning at most
    NORMALIZE_MIN_SPAN * max(1, |hi|) maps to 0."""
    pts = np.asarray(points, dtype=np.float64)
    lo, hi = np.nanmin(pts, axis=0), np.nanmax(pts, axis=0)
    flat = hi - lo <= NORMALIZE_MIN_SPAN * np.maximum(1.0, np.abs(hi))
    span = np.where(flat, 1.0, hi - lo)
    lo = np.where(flat, hi, lo)
    return lambda r: (np.asarray(r, dtype=np.float64) - lo) / span


def _runs_of(block: dict, algo: str) -> list[dict]:
    return [r for r in block["runs"] if r["algorithm"] == algo]


def _by_seed(runs: list[dict]) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for r in runs:
        out.setdefault(r["seed"], []).append(r)
    return out


def _final_points(runs, norm, prefs) -> dict:
    """{seed: (P, M) normalized final rewards at each preference} (a run without p: its point repeated)."""
    out = {}
    for seed, rs in _by_seed(runs).items():
        at = {_preference_key(r["preference"]): norm(r["final_rewards"]) for r in rs}
        out[seed] = np.array([at.get(_preference_key(p), next(iter(at.values()))) for p in prefs])
    return out


def algorithm_stats(block: dict, algo: str, norm) -> dict:
    """Per-algorithm numbers of one block (medians and IQR over seeds)."""
    runs = _runs_of(block, algo)
    prefs = [tuple(p) for p in block["suite"]["preferences"]]
    pts = _final_points(runs, norm, prefs)
    hv = [_hypervolume(f) for f in pts.values()]
    weighted = [float(np.mean([np.dot(p, f[j]) for j, p in enumerate(prefs)])) for f in pts.values()]
    up = block["serialized_upload"][algo]
    return {
        "runs": len(runs), "reads_preference": len({_preference_key(r["preference"]) for r in runs}) > 1,
        "oscillation": ms.spread([ms.trajectory_oscillation(np.asarray(r["train_rewards"], dtype=float)) for r in runs]),
        "lambda_path": ms.spread([ms.path_length(np.asarray(r["lambda_mean"], dtype=float)) for r in runs]),
        "d_lambda": ms.spread([np.nanmean(r["d_lambda"]) if np.isfinite(r["d_lambda"]).any() else np.nan
                               for r in runs]),
        "d_x": ms.spread([np.nanmean(r["d_x"]) if np.isfinite(r["d_x"]).any() else np.nan for r in runs]),
        "hypervolume": ms.spread(hv), "weighted_reward": ms.spread(weighted),
        "final_by_preference": np.median(np.stack(list(pts.values())), axis=0).tolist(),
        "raw_final_by_preference": _raw_medians(runs, prefs),
        "bytes_per_client_round": int(up),
        "payload_per_client_round": float(np.median([u / c for r in runs for u, c in zip(r["uplink_bytes"],
                                                                                         r["clients"]) if c])),
        "seconds": ms.spread([r["seconds"] for r in runs]),
    }


def _hypervolume(points) -> float:
    """Hypervolume of the finite normalized reward points (minimizing 1 - r; NaN when none is finite)."""
    f = np.asarray(points, dtype=np.float64)
    f = f[np.all(np.isfinite(f), axis=1)]
    return pareto.hypervolume(1.0 - f, np.full(f.shape[1], HV_REFERENCE)) if f.size else float("nan")


def _raw_medians(runs, prefs) -> list:
    out = []
    for p in prefs:
        rs = [r for r in runs if _preference_key(r["preference"]) == _preference_key(p)] or runs
        out.append(np.median(np.array([r["final_rewards"] for r in rs], dtype=float), axis=0).tolist())
    return out


def _uniform_runs(runs: list[dict], m: int) -> list[dict]:
    """The runs at the preference closest to uniform (every run of an algorithm that reads no p)."""
    dist = [float(np.abs(np.asarray(r["preference"]) - 1.0 / m).max()) for r in runs]
    return [r for r, d in zip(runs, dist) if d <= min(dist) + 1e-12]


def uplink_to_target(block: dict, norm, algos) -> tuple[float, dict]:
    """(target, {algo: spread of bytes}): the serialized uplink (all clients) until the uniform-weighted
    normalized training reward first reaches the target = the lowest of the algorithms' median best."""
    m = len(block["objectives"])
    curves = {a: [np.array([np.mean(norm(t)) for t in r["train_rewards"]]) for r in
                  _uniform_runs(_runs_of(block, a), m)] for a in algos}
    target = min(float(np.median([np.nanmax(c) for c in cs])) for cs in curves.values())
    out = {}
    for a in algos:
        per_client = block["serialized_upload"][a]
        spent = []
        for r, c in zip(_uniform_runs(_runs_of(block, a), m), curves[a]):
            hit = ms.first_reach(-c, -target)
            spent.append(float(per_client * np.sum(r["clients"][:hit + 1])) if hit is not None else float("inf"))
        out[a] = ms.spread(spent) | {"reached": int(np.sum(np.isfinite(spent))), "runs": len(spent)}
    return target, out


def preference_following(block: dict, algo: str, norm) -> dict:
    """r_1(x_T) (normalized, median over seeds) and the mean lambda_1 over the rounds against p_1."""
    prefs = [tuple(p) for p in block["suite"]["preferences"]]
    p1 = np.array([p[0] for p in prefs])
    runs = _runs_of(block, algo)
    r1, lam1 = [], []
    for p in prefs:
        rs = [r for r in runs if _preference_key(r["preference"]) == _preference_key(p)] or runs
        r1.append(float(np.median([norm(r["final_rewards"])[0] for r in rs])))
        lam1.append(float(np.median([np.nanmean(np.asarray(r["lambda_mean"], dtype=float)[:, 0]) for r in rs])))
    return {"p1": p1.tolist(), "r1": r1, "lambda1": lam1,
            "monotone": ms.monotone_fraction(p1, r1, decreasing=False, atol=MONOTONE_ATOL),
            "lambda_monotone": _rising_fraction(p1, lam1),
            "coverage": float(max(r1) - min(r1))}


def _rising_fraction(x, y) -> float:
    """Fraction of neighbouring pairs (sorted by x) along which y strictly rises (a flat y scores 0)."""
    order = np.argsort(np.asarray(x, dtype=np.float64), kind="stable")
    dy = np.diff(np.asarray(y, dtype=np.float64)[order])
    return float(np.mean(dy > 0)) if dy.size else float("nan")


def _compare(metric, setting, stats, key, lower, baselines) -> list:
    """FIRM's median of stats[algo][key] against each baseline whose value exists (finite)."""
    out = []
    for b in baselines:
        other = stats[b][key]["median"] if isinstance(stats[b][key], dict) else stats[b][key]
        firm = stats["firm"][key]["median"] if isinstance(stats["firm"][key], dict) else stats["firm"][key]
        if np.isfinite(other) or np.isinf(other):
            out.append(vd.Comparison(metric, setting, _display(b), firm, other, lower))
    return out


def _display(algo: str) -> str:
    from firm_core.federated import DISPLAY_NAMES

    return DISPLAY_NAMES[algo]


def score_block(label: str, block: dict) -> dict:
    """Every claim of one block: numbers, comparisons, a verdict per claim."""
    norm = normalizer(block)
    algos = block["suite"]["algorithms"]
    base = [a for a in algos if a != "firm"]
    stats = {a: algorithm_stats(block, a, norm) for a in algos}
    target, to_target = uplink_to_target(block, norm, algos)
    for a in algos:
        stats[a]["bytes_to_target"] = to_target[a]
    follow = {a: preference_following(block, a, norm) for a in algos if stats[a]["reads_preference"]}
    s = f"LLM {label}"
    comps = {
        "dynamics": _compare("training-reward oscillation", s, stats, "oscillation", True, base),
        "drift": _compare("mean D_lambda", s, stats, "d_lambda", True, ["local_mgda"])
        + _compare("mean D_x", s, stats, "d_x", True, base),
        "tradeoffs": _compare("hypervolume", s, stats, "hypervolume", False, base)
        + _compare("mean p.r(x_T)", s, stats, "weighted_reward", False, base),
        "communication": _compare("upload bytes per client-round", s, stats, "bytes_per_client_round", True, base)
        + _compare("uplink bytes to target reward", s, stats, "bytes_to_target", True, base),
        "preference": [vd.Comparison(metric, s, _display(b), follow["firm"][k], follow[b][k], False)
                       for b in follow if b != "firm" for metric, k in (("r_1 follows p_1", "monotone"),
                                                                         ("r_1 coverage", "coverage"))],
    }
    reqs = {"communication": [("FIRM uploads one adapter per client-round", stats["firm"]["payload_per_client_round"]
                               == 4 * block["serialized_upload"]["adapter_params"])],
            "preference": [("FIRM's lambda_1 follows p_1", follow["firm"]["lambda_monotone"] >= LAMBDA_MONOTONE_MIN)]}
    verdicts = {c: vd.comparative_verdict(comps[c], reqs.get(c, ())) for c in CLAIMS}
    return {"stats": stats, "target_reward": target, "following": follow, "verdicts": verdicts,
            "comparisons": {c: [x.to_dict() for x in comps[c]] for c in CLAIMS},
            "requirements": {c: [[n, bool(ok)] for n, ok in r] for c, r in reqs.items()}}


def score_llm(raw: dict) -> dict:
    """The section: the provider's blocks, each scored; the section's verdict is that of every comparison of
    the last block (the largest model that ran), the earlier blocks' verdicts are shown beside it."""
    blocks = {label: {**b, "scores": score_block(label, b)} for label, b in raw["blocks"].items()}
    skipped = dict(raw.get("skipped", {}))
    if not blocks:
        return {"status": "not run", "skipped": skipped,
                "verdict": vd.not_run_verdict("no LLM block could run: " + "; ".join(skipped.values()))}
    main = list(blocks)[-1]
    scores = blocks[main]["scores"]
    comps = [vd.Comparison(**{k: c[k] for k in ("metric", "setting", "baseline", "firm", "other", "lower_is_better")})
             for cs in scores["comparisons"].values() for c in cs]
    reqs = [(n, ok) for rs in scores["requirements"].values() for n, ok in rs]
    verdict = vd.comparative_verdict(comps, reqs)
    verdict["line"] = verdict["line"].replace("**: ", f"** (LLM {main} block): ", 1)
    return {"status": "run", "blocks": blocks, "main_block": main, "skipped": skipped,
            "seconds": raw.get("seconds"), "verdict": verdict, "comparisons": [c.to_dict() for c in comps]}
