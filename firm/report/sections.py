"""The report's sections: each is a pure function of the suite config (and earlier sections' results)
returning a JSON-ready dict with its numbers, its comparisons and its verdict.

Medians over seeds are compared (:mod:`.verdicts`); spreads are median and interquartile range.
"""

from __future__ import annotations

import numpy as np

from firm.progress import job_bar
from firm_core import pareto
from firm_core.federated import DISPLAY_NAMES

from . import measures as ms
from . import verdicts as vd
from .config import TUNE_SEED, SuiteConfig, client_preference_rows, make_problem
from .runs import algorithm_config, run_series

#: The second half of the rounds is what "late-round" averages of D_lambda / D_x use.
LATE_FRACTION = 0.5
#: A move of F_1 against the preference of at most this fraction of the front's F_1 range still follows it.
MONOTONE_ATOL = 0.01
#: FIRM must follow the preference on at least this fraction of neighbouring preference pairs.
MONOTONE_MIN = 1.0
#: Baselines whose lambda is chosen each round (FedAvg-LS's is fixed at p).
LAMBDA_BASELINES = ("local_mgda", "fmgda", "fsmgda", "fedcmoo")
#: Samples of the analytic front for IGD and the hypervolume reference point.
FRONT_POINTS = 200


def _name(algo: str) -> str:
    return DISPLAY_NAMES[algo]


def _late_mean(series) -> float:
    s = np.asarray(series, dtype=np.float64)
    tail = s[int(LATE_FRACTION * s.size):]
    tail = tail[np.isfinite(tail)]
    return float(tail.mean()) if tail.size else float("nan")


def _firm_vs(metric, setting, per_algo: dict, lower_is_better=True, baselines=None):
    """Comparisons of FIRM's median against each baseline's (per_algo: algo -> spread dict)."""
    out = []
    for algo, s in per_algo.items():
        if algo == "firm" or (baselines is not None and algo not in baselines):
            continue
        out.append(vd.Comparison(metric, setting, _name(algo), per_algo["firm"]["median"], s["median"], lower_is_better))
    return out


# --- tuning ----------------------------------------------------------------------------------------
def tuning(cfg: SuiteConfig, results: dict, progress: bool) -> dict:
    """Per problem and algorithm: the lr of ``cfg.lr_grid`` with the smallest tuning score (mean log10 phi
    over the last quarter of rounds) on seed TUNE_SEED; ties go to the smaller step."""
    out = {}
    jobs = len(cfg.problems) * len(cfg.algorithms) * len(cfg.lr_grid)
    with job_bar("report: tuning", jobs, enabled=progress) as bar:
        for prob in cfg.problems:
            problem = make_problem(prob)
            out[prob] = {}
            for algo in cfg.algorithms:
                scores = {}
                for lr in cfg.lr_grid:
                    series = run_series(problem, algorithm_config(cfg, algo, lr, TUNE_SEED), cfg.rounds)
                    scores[str(lr)] = ms.tuning_score(series["phi"])
                    bar.update(1)
                best = min(cfg.lr_grid, key=lambda lr: (scores[str(lr)], lr))
                out[prob][algo] = {"lr": best, "scores": scores}
    return {"choice": out}


def _lr(results, prob, algo) -> float:
    return results["tuning"]["choice"][prob][algo]["lr"]


# --- dynamics -------------------------------------------------------------------------------------
def dynamics(cfg: SuiteConfig, results: dict, progress: bool) -> dict:
    """Every algorithm at its tuned lr, every seed: phi, F and lambda per round, and their oscillation."""
    runs, stats, comps = {}, {}, []
    with job_bar("report: dynamics", len(cfg.problems) * len(cfg.algorithms) * len(cfg.seeds), enabled=progress) as bar:
        for prob in cfg.problems:
            problem = make_problem(prob)
            runs[prob], stats[prob] = {}, {}
            for algo in cfg.algorithms:
                per_seed = []
                for seed in cfg.seeds:
                    per_seed.append(run_series(problem, algorithm_config(cfg, algo, _lr(results, prob, algo), seed), cfg.rounds))
                    bar.update(1)
                runs[prob][algo] = per_seed
                stats[prob][algo] = {
                    "objective_oscillation": ms.spread([ms.trajectory_oscillation(r["objectives"]) for r in per_seed]),
                    "log_phi_oscillation": ms.spread([ms.log_phi_oscillation(r["phi"]) for r in per_seed]),
                    "lambda_path": ms.spread([ms.path_length(r["lambda"]) for r in per_seed]),
                    "final_phi": ms.spread([r["phi"][-1] for r in per_seed]),
                }
            for metric in ("objective_oscillation", "log_phi_oscillation"):
                comps += _firm_vs(metric, prob, {a: s[metric] for a, s in stats[prob].items()})
            # FedAvg-LS's lambda is p by construction: its path is 0 and says nothing about smoothness
            comps += _firm_vs("lambda_path", prob, {a: s["lambda_path"] for a, s in stats[prob].items()},
                              baselines=LAMBDA_BASELINES)
    return {"runs": runs, "stats": stats, "verdict": vd.comparative_verdict(comps),
            "comparisons": [c.to_dict() for c in comps]}


# --- drift ----------------------------------------------------------------------------------------
def _drift_runs(cfg, results, prob, algo, seeds, bar, *, heterogeneity=1.0, beta=None, kappa=None):
    problem = make_problem(prob, heterogeneity)
    rows = None if kappa is None else client_preference_rows(kappa, int(problem.num_objectives))
    out = {"d_lambda": [], "d_x": []}
    for seed in seeds:
        r = run_series(problem, algorithm_config(cfg, algo, _lr(results, prob, algo), seed, beta=beta), cfg.rounds,
                       client_preferences=rows)
        out["d_lambda"].append(_late_mean(r["d_lambda"]))
        out["d_x"].append(_late_mean(r["d_x"]))
        bar.update(1)
    return {k: ms.spread(v) for k, v in out.items()}


def drift(cfg: SuiteConfig, results: dict, progress: bool) -> dict:
    """D_lambda and D_x (late-round means) per round (from the dynamics runs), against beta (FIRM), against
    data heterogeneity (FIRM, Local-MGDA) and against preference heterogeneity (FIRM, Local-MGDA, FedAvg-LS)."""
    dyn = results["dynamics"]["runs"]
    comps, per_round, late = [], {}, {}
    for prob in cfg.problems:
        per_round[prob], late[prob] = {}, {}
        for algo in cfg.algorithms:
            rs = dyn[prob][algo]
            per_round[prob][algo] = {k: np.nanmedian(np.asarray([r[k] for r in rs], dtype=np.float64), axis=0).tolist()
                                     if np.isfinite(np.asarray([r[k] for r in rs], dtype=np.float64)).any() else None
                                     for k in ("d_lambda", "d_x")}
            late[prob][algo] = {k: ms.spread([_late_mean(r[k]) for r in rs]) for k in ("d_lambda", "d_x")}
        comps += _firm_vs("D_lambda", prob, {a: s["d_lambda"] for a, s in late[prob].items()}, baselines=("local_mgda",))
        comps += _firm_vs("D_x", prob, {a: s["d_x"] for a, s in late[prob].items()})
    prob = cfg.problems[0]
    jobs = len(cfg.seeds) * (len(cfg.betas) + 2 * len(cfg.heterogeneity) + 3 * len(cfg.preference_heterogeneity))
    vs_beta, vs_het, vs_pref = {}, {}, {}
    with job_bar("report: drift", jobs, enabled=progress) as bar:
        for beta in cfg.betas:
            vs_beta[str(beta)] = _drift_runs(cfg, results, prob, "firm", cfg.seeds, bar, beta=beta)
        for h in cfg.heterogeneity:
            vs_het[str(h)] = {a: _drift_runs(cfg, results, prob, a, cfg.seeds, bar, heterogeneity=h)
                              for a in ("firm", "local_mgda")}
            comps += _firm_vs("D_lambda", f"{prob}, data heterogeneity {h:g}",
                              {a: s["d_lambda"] for a, s in vs_het[str(h)].items()})
        for kappa in cfg.preference_heterogeneity:
            vs_pref[str(kappa)] = {a: _drift_runs(cfg, results, prob, a, cfg.seeds, bar, kappa=kappa)
                                   for a in ("firm", "local_mgda", "fedavg_ls")}
            comps += _firm_vs("D_lambda", f"{prob}, preference heterogeneity {kappa:g}",
                              {a: s["d_lambda"] for a, s in vs_pref[str(kappa)].items()}, baselines=("local_mgda",))
    beta_medians = [vs_beta[str(b)]["d_lambda"]["median"] for b in cfg.betas]
    falls = bool(np.all(np.diff(beta_medians) <= vd.TIE_RTOL * np.abs(beta_medians[:-1])))
    verdict = vd.comparative_verdict(comps, [("D_lambda non-increasing in beta", falls)])
    return {"per_round": per_round, "late": late, "vs_beta": vs_beta, "vs_heterogeneity": vs_het,
            "vs_preference_heterogeneity": vs_pref, "drift_problem": prob, "beta_falls": falls,
            "verdict": verdict, "comparisons": [c.to_dict() for c in comps]}


# --- trade-offs and preference following ------------------------------------------------------------
def preference_grid(points: int) -> np.ndarray:
    s = np.linspace(1.0, 0.0, points)
    return np.stack([s, 1.0 - s], axis=1)


def tradeoffs(cfg: SuiteConfig, results: dict, progress: bool) -> dict:
    """Preference sweep per problem and algorithm: final F(x_T) and lambda per p and seed; hypervolume
    (reference: front nadir + 10 % of its range) and IGD against the analytic front, per seed."""
    prefs = preference_grid(cfg.sweep_points)
    out, comps = {}, []
    jobs = len(cfg.problems) * len(cfg.algorithms) * len(prefs) * len(cfg.seeds)
    with job_bar("report: trade-offs", jobs, enabled=progress) as bar:
        for prob in cfg.problems:
            problem = make_problem(prob)
            front = np.asarray(problem.pareto_front(FRONT_POINTS), dtype=np.float64)
            ref = pareto.reference_point(front)
            entry = {"front": front.tolist(), "reference": ref.tolist(),
                     "front_hypervolume": float(pareto.hypervolume(front, ref)), "algorithms": {}}
            for algo in cfg.algorithms:
                finals = np.empty((len(cfg.seeds), len(prefs), 2))
                lams = np.empty((len(cfg.seeds), len(prefs), 2))
                for j, p in enumerate(prefs):
                    for i, seed in enumerate(cfg.seeds):
                        r = run_series(problem, algorithm_config(cfg, algo, _lr(results, prob, algo), seed, preference=p),
                                       cfg.rounds)
                        finals[i, j], lams[i, j] = r["objectives"][-1], r["lambda"][-1]
                        bar.update(1)
                hv = [float(pareto.hypervolume(f, ref)) for f in finals]
                igd = [float(pareto.igd(f, front)) for f in finals]
                entry["algorithms"][algo] = {"finals": finals.tolist(), "lambdas": lams.tolist(),
                                             "hypervolume": ms.spread(hv), "igd": ms.spread(igd)}
            algos = entry["algorithms"]
            comps += _firm_vs("hypervolume", prob, {a: s["hypervolume"] for a, s in algos.items()}, lower_is_better=False)
            comps += _firm_vs("IGD", prob, {a: s["igd"] for a, s in algos.items()})
            out[prob] = entry
    return {"preferences": prefs.tolist(), "problems": out, "verdict": vd.comparative_verdict(comps),
            "comparisons": [c.to_dict() for c in comps]}


def beta_sensitivity(cfg: SuiteConfig, results: dict, progress: bool) -> dict:
    """Informational (no verdict): FIRM's preference sweep at every beta of ``cfg.betas`` (FIRM's tuned lr),
    scored like the trade-offs, plus the coverage of F_1 (range reached / the front's range)."""
    prefs = np.asarray(results["tradeoffs"]["preferences"])
    out = {}
    jobs = len(cfg.problems) * len(cfg.betas) * len(prefs) * len(cfg.seeds)
    with job_bar("report: FIRM across beta", jobs, enabled=progress) as bar:
        for prob in cfg.problems:
            problem = make_problem(prob)
            front = np.asarray(problem.pareto_front(FRONT_POINTS), dtype=np.float64)  # as the trade-offs: unrounded
            ref = pareto.reference_point(front)
            span = float(front[:, 0].max() - front[:, 0].min())
            out[prob] = {}
            for beta in cfg.betas:
                finals = np.empty((len(cfg.seeds), len(prefs), 2))
                for j, p in enumerate(prefs):
                    for i, seed in enumerate(cfg.seeds):
                        algo = algorithm_config(cfg, "firm", _lr(results, prob, "firm"), seed, beta=beta, preference=p)
                        finals[i, j] = run_series(problem, algo, cfg.rounds)["objectives"][-1]
                        bar.update(1)
                f1 = np.median(finals[:, :, 0], axis=0)
                out[prob][str(beta)] = {
                    "hypervolume": ms.spread([float(pareto.hypervolume(f, ref)) for f in finals]),
                    "igd": ms.spread([float(pareto.igd(f, front)) for f in finals]),
                    "coverage": float((f1.max() - f1.min()) / span) if span > 0 else float("nan"),
                    "finals_median": np.median(finals, axis=0).tolist(),
                }
    return {"problems": out}


def preference(cfg: SuiteConfig, results: dict, progress: bool) -> dict:
    """From the sweep: F_1 should fall as p_1 rises. Per algorithm and problem, on the median-over-seeds
    curve: the fraction of neighbouring preferences along which F_1 falls (MONOTONE_ATOL of the front's F_1
    range allowed), and the coverage = range of F_1 reached / the front's F_1 range."""
    sweep = results["tradeoffs"]
    p1 = np.asarray(sweep["preferences"])[:, 0]
    out, comps, requirements = {}, [], []
    for prob, entry in sweep["problems"].items():
        front = np.asarray(entry["front"])
        span = float(front[:, 0].max() - front[:, 0].min())
        out[prob] = {}
        for algo, a in entry["algorithms"].items():
            f1 = np.median(np.asarray(a["finals"])[:, :, 0], axis=0)
            lam1 = np.median(np.asarray(a["lambdas"])[:, :, 0], axis=0)
            out[prob][algo] = {
                "f1": f1.tolist(), "f2": np.median(np.asarray(a["finals"])[:, :, 1], axis=0).tolist(),
                "lambda1": lam1.tolist(),
                "monotone": ms.monotone_fraction(p1, f1, decreasing=True, atol=MONOTONE_ATOL * span),
                "coverage": float((f1.max() - f1.min()) / span) if span > 0 else float("nan"),
            }
        per = {a: {"median": v["monotone"]} for a, v in out[prob].items()}
        comps += _firm_vs("preference monotonicity", prob, per, lower_is_better=False)
        comps += _firm_vs("F_1 coverage", prob, {a: {"median": v["coverage"]} for a, v in out[prob].items()},
                          lower_is_better=False)
        requirements.append((f"FIRM follows p on {prob}", out[prob]["firm"]["monotone"] >= MONOTONE_MIN))
    return {"preferences": p1.tolist(), "problems": out,
            "verdict": vd.comparative_verdict(comps, requirements), "comparisons": [c.to_dict() for c in comps]}


# --- communication ----------------------------------------------------------------------------------
def communication(cfg: SuiteConfig, results: dict, progress: bool) -> dict:
    """From the dynamics runs: serialized uplink per client per round, its agreement with the records, and
    the uplink to reach the target phi = the largest of the algorithms' median final phi (a level every
    algorithm reaches in its median run)."""
    dyn, stats = results["dynamics"]["runs"], results["dynamics"]["stats"]
    out, comps, agree = {}, [], True
    mismatches = []
    for prob in cfg.problems:
        target = max(stats[prob][a]["final_phi"]["median"] for a in cfg.algorithms)
        out[prob] = {"target_phi": target, "algorithms": {}}
        for algo in cfg.algorithms:
            rs = dyn[prob][algo]
            per_msg, to_target, payload_ok = [], [], True
            for r in rs:
                ser, pay, rec = (np.asarray(r[k], dtype=np.int64) for k in ("uplink_serialized", "uplink_payload",
                                                                            "uplink_record"))
                msgs = np.asarray(r["messages"], dtype=np.int64)
                if not np.array_equal(pay, rec):
                    payload_ok = False
                per_msg.append(float(ser.sum() / max(int(msgs.sum()), 1)))
                hit = ms.first_reach(r["phi"], target)
                to_target.append(float(np.sum(ser[:hit])) if hit is not None else float("inf"))
            if not payload_ok:
                agree = False
                mismatches.append(f"{prob}/{algo}")
            per_round = float(np.median([np.mean(r["uplink_serialized"]) for r in rs]))
            payload_client = float(np.median([np.sum(r["uplink_payload"]) / max(np.sum(r["messages"]), 1) for r in rs]))
            out[prob]["algorithms"][algo] = {
                "bytes_per_round": per_round, "bytes_per_message": float(np.median(per_msg)),
                "payload_per_message": payload_client,
                "messages_per_client_round": float(np.median([np.sum(r["messages"]) for r in rs]))
                / (cfg.rounds * len(make_problem(prob).client_weights)),
                "bytes_to_target": ms.spread(to_target), "reached": int(np.sum(np.isfinite(to_target))),
                "records_agree": payload_ok,
            }
        algos = out[prob]["algorithms"]
        comps += _firm_vs("uplink bytes per round", prob, {a: {"median": v["bytes_per_round"]} for a, v in algos.items()})
        comps += _firm_vs("uplink bytes to target phi", prob, {a: v["bytes_to_target"] for a, v in algos.items()})
    dims = {prob: int(make_problem(prob).dim) for prob in cfg.problems}
    one_vector = all(out[p]["algorithms"]["firm"]["payload_per_message"] == 8 * dims[p] for p in cfg.problems)
    reqs = [("serialized payload equals the records' uplink bytes", agree),
            ("FIRM uploads one d-vector per client per round", one_vector)]
    return {"problems": out, "records_agree": agree, "mismatches": mismatches, "firm_one_vector": one_vector,
            "verdict": vd.comparative_verdict(comps, reqs), "comparisons": [c.to_dict() for c in comps]}


# --- convergence and the LLM hook ---------------------------------------------------------------------
def convergence(cfg: SuiteConfig, results: dict, progress: bool) -> dict:
    """The theory checks' quick suite (see :mod:`.convergence`)."""
    from .convergence import theory_summary

    summary = theory_summary(progress=progress)
    seconds = summary.pop("seconds")
    return {"summary": summary, "verdict": vd.convergence_verdict(summary), "_seconds": seconds}


def llm(cfg: SuiteConfig, results: dict, progress: bool, workdir=None) -> dict:
    """The LLM section: the LLM provider's runs scored claim by claim, or "not run" (see :mod:`.llm`);
    the provider keeps its finished runs in ``workdir`` (a temporary folder when None)."""
    import tempfile

    from .llm import run_llm_section

    if workdir is not None:
        return run_llm_section(cfg, progress, workdir)
    with tempfile.TemporaryDirectory() as tmp:
        return run_llm_section(cfg, progress, tmp)


#: Sections that keep partial work of their own in the report's folder (called with ``workdir=``)
WITH_WORKDIR = ("llm",)
#: Sections in the order they run (later ones read earlier ones' results); each is this module's function
#: of that name, looked up when the suite runs.
SECTIONS = ("tuning", "dynamics", "drift", "tradeoffs", "beta_sensitivity", "preference", "communication",
            "convergence", "llm")
