"""report.md (and docs/results.md) from a results dict: one section per claim, each ending in its verdict."""

from __future__ import annotations

import shutil
from pathlib import Path

from firm_core.federated import DISPLAY_NAMES

from . import verdicts as vd
from .llm import HV_REFERENCE
from .sections import LATE_FRACTION, MONOTONE_ATOL, MONOTONE_MIN

CLAIMS = (
    ("dynamics", "1. Smoother training dynamics"),
    ("drift", "2. Reduced client disagreement drift"),
    ("tradeoffs", "3. Better reward trade-offs (toy fronts)"),
    ("communication", "4. One upload per client (communication)"),
    ("convergence", "5. Convergence to Pareto-stationary points"),
    ("preference", "6. Trade-offs follow the stated preference"),
    ("llm", "LLM task (all claims)"),
)


def _g(v, fmt=".3g") -> str:
    return "n/a" if v is None else format(v, fmt)


def _spread(s) -> str:
    return f"{_g(s['median'])} [{_g(s['q25'])}, {_g(s['q75'])}]"


def _table(header, rows) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out + [""]


def _verdict(sec) -> list[str]:
    out = ["", f"Verdict: {sec['verdict']['line']}", ""]
    losses = sec["verdict"].get("losses", [])
    if len(losses) > 4:  # the verdict line shows four; list them all
        out += [f"Every comparison a baseline wins ({len(losses)}):", ""]
        out += [f"- {c['metric']} on {c['setting']}: {c['baseline']} {_g(c['other'])} vs FIRM {_g(c['firm'])}"
                for c in losses]
        out.append("")
    return out


def render_report(results: dict, figure_dir: str = "figures") -> str:
    cfg = results["config"]
    s = results["sections"]
    lines = ["# FIRM's claims, measured", ""] + provenance_lines(results) + [
             f"Suite: {'quick' if cfg['quick'] else 'full'}; seeds {cfg['seeds']}; {cfg['rounds']} rounds; "
             f"K = {cfg['local_steps']} local steps; FIRM beta = {cfg['firm_beta']:g}; 8 clients with unequal "
             "weights, full participation; the same gradient oracle and round budget for every algorithm.", "",
             "Numbers are medians over seeds with the interquartile range in brackets. Step size: for each "
             f"algorithm and problem, the value of {cfg['lr_grid']} with the smallest mean log10 phi over the last "
             "quarter of the rounds on a tuning seed that is not a report seed (ties: the smaller step).", "",
             "Verdict rule (computed, not written by hand): FIRM is *not worse* than a baseline on a metric when "
             f"its median is at least as good up to a {vd.TIE_RTOL:.0%} relative tie; the claim **holds** when FIRM "
             "is not worse in every comparison, **holds with conditions** when it is not worse in at least half "
             "(the baseline wins are listed), and **does not hold here** otherwise. A failed requirement "
             "(stated in its section) caps the verdict at 'holds with conditions'.", ""]
    lines += _summary(s)
    for key, title in CLAIMS:
        lines += [f"## {title}", ""]
        if key not in s:
            lines += ["Not computed yet (the suite was interrupted before this section).", ""]
            continue
        lines += RENDERERS[key](s, figure_dir)
        lines += _verdict(s[key])
    lines += ["## Timing", "", ", ".join(f"{k} {v:.1f} s" for k, v in results.get("timing", {}).items()), ""]
    return "\n".join(lines)


def _summary(s) -> list[str]:
    rows = [(title, s[key]["verdict"]["verdict"] if key in s else "not computed") for key, title in CLAIMS]
    return ["## Summary", ""] + _table(("claim", "verdict"), rows)


def _dynamics(s, fig) -> list[str]:
    st = s["dynamics"]["stats"]
    out = [f"![dynamics]({fig}/dynamics.png)", "",
           "Smoothness measures per run: the excess variation sum_t |s_{t+1} - s_t| - |s_T - s_0| (zero for a "
           "monotone trajectory) of each objective F_m(x_t), summed over m, and of log10 phi(x_t); the path "
           "length sum_t ||lambda_{t+1} - lambda_t||_1 of the recorded lambda (clients' mean for FIRM and "
           "Local-MGDA, p for FedAvg-LS, the server's for the others). Lower is smoother. All three are "
           "compared (the lambda path only with the baselines that choose lambda each round).", ""]
    for prob, algos in st.items():
        out += [f"**{prob}**", ""]
        out += _table(("algorithm", "F oscillation", "log10 phi oscillation", "lambda path length", "final phi"),
                      [(DISPLAY_NAMES[a], _spread(v["objective_oscillation"]), _spread(v["log_phi_oscillation"]),
                        _spread(v["lambda_path"]), _spread(v["final_phi"])) for a, v in algos.items()])
    return out


def _drift(s, fig) -> list[str]:
    d = s["drift"]
    out = [f"![drift]({fig}/drift.png)", "",
           "D_lambda = mean_i ||lambda_i - lambda_bar||^2 (clients' local weights) and D_x = mean_i ||y_i - x_{t+1}||^2, "
           f"averaged over the last {1 - LATE_FRACTION:.0%} of the rounds. D_lambda is compared with Local-MGDA "
           "(the only baseline whose clients choose their own weights: FedAvg-LS and FedCMOO share one lambda, "
           "FMGDA/FSMGDA use none), D_x with every baseline. Requirement: FIRM's D_lambda does not rise with beta.", ""]
    for prob, algos in d["late"].items():
        out += [f"**{prob}** (tuned runs)", ""]
        out += _table(("algorithm", "late D_lambda", "late D_x"),
                      [(DISPLAY_NAMES[a], _spread(v["d_lambda"]), _spread(v["d_x"])) for a, v in algos.items()])
    out += [f"**FIRM's late D_lambda vs beta** ({d['drift_problem']})", ""]
    out += _table(("beta", "D_lambda", "D_x"), [(b, _spread(v["d_lambda"]), _spread(v["d_x"])) for b, v in d["vs_beta"].items()])
    for key, title in (("vs_heterogeneity", "data heterogeneity (scale of the clients' differences)"),
                       ("vs_preference_heterogeneity", "preference heterogeneity kappa (p_i = (1-kappa) u + kappa e_(i mod M))")):
        algos = list(next(iter(d[key].values())))
        out += [f"**late D_lambda vs {title}**", ""]
        out += _table(["level"] + [DISPLAY_NAMES[a] for a in algos],
                      [[h] + [_spread(v[a]["d_lambda"]) for a in algos] for h, v in d[key].items()])
    return out


def _tradeoffs(s, fig) -> list[str]:
    t = s["tradeoffs"]
    out = [f"![trade-offs]({fig}/tradeoffs.png)", "",
           f"Preferences p = (s, 1 - s), s in {[round(p[0], 3) for p in t['preferences']]}; each seed's set of final "
           "points is scored by its hypervolume (reference: the front's nadir plus 10 % of its range) and IGD "
           "against the analytic front. Higher HV and lower IGD are better.", ""]
    for prob, e in t["problems"].items():
        out += [f"**{prob}** (front HV {_g(e['front_hypervolume'])})", ""]
        out += _table(("algorithm", "hypervolume", "IGD"),
                      [(DISPLAY_NAMES[a], _spread(v["hypervolume"]), _spread(v["igd"])) for a, v in e["algorithms"].items()])
    if "beta_sensitivity" in s:
        out += _beta_sensitivity(s["beta_sensitivity"])
    return out


def _beta_sensitivity(sec) -> list[str]:
    """Informational: FIRM's sweep at other beta (not part of any verdict)."""
    out = ["**FIRM across beta** (informational, not part of the verdict: the same sweep with FIRM's tuned step "
           "and other beta; coverage = range of F_1 reached / the front's range; the final points are medians "
           "over seeds, one per preference)", ""]
    for prob, betas in sec["problems"].items():
        out += _table((f"{prob}: beta", "hypervolume", "IGD", "coverage", "final (F_1, F_2) per p"),
                      [(b, _spread(v["hypervolume"]), _spread(v["igd"]), _g(v["coverage"]),
                        " ".join(f"({_g(f[0])}, {_g(f[1])})" for f in v["finals_median"])) for b, v in betas.items()])
    return out


def _communication(s, fig) -> list[str]:
    c = s["communication"]
    out = [f"![communication]({fig}/communication.png)", "",
           "Bytes are measured by serializing exactly what each client uploads (np.save of its arrays into a "
           "buffer): FIRM, Local-MGDA and FedAvg-LS send y_i (d floats); FMGDA and FSMGDA the M updates (M x d); "
           "FedCMOO (as its authors run it) a rank-r sketch (M x r and r x d) with its Gram (M x M), then a cross term "
           "and a residual Gram (M x M each), then y_i. The payload (serialized bytes minus the .npy "
           f"headers) equals the records' uplink bytes in every round of every run: **{c['records_agree']}**. "
           "Target phi per problem: the largest of the algorithms' median final phi.", ""]
    for prob, e in c["problems"].items():
        out += [f"**{prob}** (target phi {_g(e['target_phi'])})", ""]
        out += _table(("algorithm", "bytes per round", "payload per message", "messages per client-round",
                       "bytes to target phi", "runs reaching it"),
                      [(DISPLAY_NAMES[a], _g(v["bytes_per_round"], ".0f"), _g(v["payload_per_message"], ".0f"),
                        _g(v["messages_per_client_round"]), _spread(v["bytes_to_target"]), v["reached"])
                       for a, v in e["algorithms"].items()])
    return out


def _convergence(s, fig) -> list[str]:
    summ = s["convergence"]["summary"]
    out = ["The theory checks' quick suite (the same checks as `firm check-theory`): bounds with explicit "
           "constants checked on toy runs, with liveness probes that feed each checker a wrong bound.", ""]
    out += _table(("kind", "checks holding"), [(k, f"{v[0]}/{v[1]}") for k, v in summ["kinds"].items()])
    worst = sorted((r for r in summ["checks"] if r["ratio"] is not None), key=lambda r: -r["ratio"])[:5]
    out += ["Tightest checks (measured / bound):", ""]
    out += _table(("group", "check", "ratio", "holds"), [(r["group"], r["name"], _g(r["ratio"]), r["ok"]) for r in worst])
    if "dynamics" in s:
        out += _stationarity(s["dynamics"]["stats"])
    return out


def _stationarity(stats) -> list[str]:
    """Informational (not part of the verdict): where each algorithm's phi ends after the round budget."""
    algos = list(next(iter(stats.values())))
    out = ["Where phi ends after the round budget (median final phi of the dynamics runs; the bounds allow a "
           "floor from client heterogeneity and local steps, which this measures; not part of the verdict):", ""]
    out += _table(["problem"] + [DISPLAY_NAMES[a] for a in algos],
                  [[prob] + [_g(v[a]["final_phi"]["median"]) for a in algos] for prob, v in stats.items()])
    for prob, v in stats.items():
        best = min((a for a in algos if a != "firm"), key=lambda a: v[a]["final_phi"]["median"])
        ratio = v["firm"]["final_phi"]["median"] / v[best]["final_phi"]["median"]
        out.append(f"- {prob}: FIRM's final phi is {ratio:.3g} times the lowest baseline's ({DISPLAY_NAMES[best]}).")
    return out + [""]


def _preference(s, fig) -> list[str]:
    pr = s["preference"]
    out = [f"![preference]({fig}/preference.png)", "",
           "On the median-over-seeds sweep: *monotonicity* is the fraction of neighbouring preferences along which "
           f"F_1 falls as p_1 rises (a move back of at most {MONOTONE_ATOL:.0%} of the front's F_1 range allowed); "
           "*coverage* is the range of F_1 reached over the sweep divided by the front's (a method that ignores p "
           "has monotonicity 1 and coverage 0: the two are read together). Requirement: FIRM's "
           f"monotonicity >= {MONOTONE_MIN:g} on every problem.", ""]
    for prob, algos in pr["problems"].items():
        out += [f"**{prob}**", ""]
        out += _table(("algorithm", "monotonicity", "coverage", "final F_1 per p", "lambda_1 per p"),
                      [(DISPLAY_NAMES[a], _g(v["monotone"]), _g(v["coverage"]),
                        ", ".join(_g(x) for x in v["f1"]), ", ".join(_g(x) for x in v["lambda1"]))
                       for a, v in algos.items()])
    return out


def _llm(s, fig) -> list[str]:
    sec = s["llm"]
    if sec.get("status") == "not run":
        out = [f"**Not run**: {sec['verdict']['line'].split(': ', 1)[-1]}"]
        return out + [f"- {label}: {why}" for label, why in sec.get("skipped", {}).items()]
    out = [f"![LLM]({fig}/llm.png)", "",
           "Federated LoRA RLHF on the helpful-vs-harmless task: the shipped 48 requests (24 asking for help, 24 "
           "for insults or angry messages) split by category across the clients, so each client's population "
           "leans to one objective. Every algorithm runs on the same model, data, round budget and step size "
           "(no tuning on the LLM); FIRM's beta is relative (beta tr(Q)/M). FIRM and FedAvg-LS run at each "
           "preference; algorithms that read no preference run once per seed. Rewards r(x_T) are evaluated "
           "after the last round on every k-th request; for the scores they are normalized per objective to "
           "[0, 1] over the block's final points and x_0. Hypervolume: of an algorithm's final points "
           f"(minimizing 1 - r, reference {HV_REFERENCE} per objective). Oscillation: excess variation of the "
           "clients' training rewards per round, summed over objectives. Uplink to target: serialized bytes "
           "until the normalized training reward at uniform p first reaches the lowest of the algorithms' "
           "median best. Convergence to Pareto-stationary points is not measured here: an LLM gives no "
           "smoothness constants (the convergence section checks the bounds on toy problems).", ""]
    for label, b in sec["blocks"].items():
        out += _llm_block(label, b)
    for label, why in sec.get("skipped", {}).items():
        out += [f"**LLM {label}**: not run ({why}).", ""]
    if len(sec["blocks"]) > 1:
        out += [f"The section's verdict is that of the last block ({sec['main_block']}); the others are shown for "
                "their spread over seeds.", ""]
    return out


TINY_NOTE = ("The tiny policy is a test-sized model trained on Python's documentation: it cannot answer "
             "requests, so its rewards barely move and the reward-based comparisons below are mostly noise. "
             "What this block measures is the machinery: uploads, drift, timing, every algorithm end to end.")


def _llm_block(label: str, b: dict) -> list[str]:
    su, sc = b["suite"], b["scores"]
    names = b["objectives"]
    st = sc["stats"]
    prefs = ", ".join("(" + ", ".join(f"{v:g}" for v in p) + ")" for p in su["preferences"])
    out = [f"**LLM {label}**: policy `{su['model']}`, rewards {', '.join(names)}; {su['num_clients']} clients, "
           f"seeds {su['seeds']}, {su['rounds']} rounds of K = {su['local_steps']}, lr {su['lr']:g}, FIRM beta "
           f"{su['firm_beta']:g} (relative); {su['prompts_per_step']} prompts x {su['group_size']} samples of "
           f"{su['max_new_tokens']} tokens per step; evaluation on {b['eval_prompts']} requests x "
           f"{su['eval_samples']} samples; preferences {prefs}; {b['torch_threads']} torch thread(s); model built in "
           f"{_g(b['build_seconds'])} s, runs {_g(b['run_seconds'])} s; adapter {b['serialized_upload']['adapter_params']} "
           f"parameters. Initial rewards r(x_0) = ({', '.join(_g(v) for v in b['initial']['rewards'])}).", ""]
    if su["model"] == "tiny":
        out += [TINY_NOTE, ""]
    out += _table(("algorithm", f"r(x_T) = ({', '.join(names)}) per p", "hypervolume", "mean p.r(x_T)",
                   "oscillation", "mean D_lambda", "mean D_x", "upload B / client-round", "uplink B to target",
                   "s per run"),
                  [(DISPLAY_NAMES[a], " ".join("(" + ", ".join(_g(x) for x in f) + ")" for f in v["raw_final_by_preference"])
                    if v["reads_preference"] else "(" + ", ".join(_g(x) for x in v["raw_final_by_preference"][0]) + ") any p",
                    _spread(v["hypervolume"]), _spread(v["weighted_reward"]), _spread(v["oscillation"]),
                    _spread(v["d_lambda"]), _spread(v["d_x"]), v["bytes_per_client_round"],
                    _spread(v["bytes_to_target"]), _g(v["seconds"]["median"])) for a, v in st.items()])
    for a, f in sc["following"].items():
        out.append(f"- {DISPLAY_NAMES[a]} as p_1 goes {f['p1']}: normalized r_1(x_T) "
                   f"{', '.join(_g(x) for x in f['r1'])}; mean lambda_1 {', '.join(_g(x) for x in f['lambda1'])}.")
    out += ["", f"Target (normalized training reward at uniform p): {_g(sc['target_reward'])}.", ""]
    out += _table(("claim on LLM " + label, "verdict"),
                  [(c, sc["verdicts"][c]["line"].replace("|", "/")) for c in sc["verdicts"]])
    return out


RENDERERS = {"dynamics": _dynamics, "drift": _drift, "tradeoffs": _tradeoffs, "communication": _communication,
             "convergence": _convergence, "preference": _preference, "llm": _llm}


def provenance_lines(results: dict) -> list[str]:
    cfg, prov = results["config"], results.get("provenance", {})
    command = "firm report --quick" if cfg["quick"] else "firm report"
    total = sum(results.get("timing", {}).values())
    return [f"Produced by `{command}` (seeds {cfg['seeds']}, {cfg['rounds']} rounds) at commit "
            f"`{prov.get('commit', 'unknown')}`, started {prov.get('started_utc', '?')} UTC on {prov.get('machine', '?')} "
            f"(Python {prov.get('python', '?')}, numpy {prov.get('numpy', '?')}); the sections took {total:.0f} s in "
            "all (per section under Timing), on a machine shared with other jobs.", ""]


DOCS_INTRO = """How FIRM's claims hold up against its baselines on toy problems with known Pareto fronts, and on
a federated LoRA RLHF task (helpfulness vs harmlessness; the last section). Every number below comes from
`firm report`, a fixed, seeded suite; each section ends in a verdict computed from the numbers by the rule
stated at the top. To reproduce or refresh this page:

```bash
firm report                               # the full suite into runs/report; refreshes docs/results.md
firm report --quick --out /tmp/quick      # the same sections on a smaller budget (under a minute)
firm report --out /tmp/mine --no-docs     # anywhere else, leaving the docs alone
```

An interrupted suite resumes from its `results.json` (finished sections are kept; the section that was
running starts over, except the LLM section, which keeps every finished run in `llm_runs.json`). The LLM
section needs `pip install 'firm[torch,align]'` (and `firm[smollm2]` for its SmolLM2 block); without them
it says "not run" and why. The notebook
`notebooks/claims.ipynb` loads `docs/results/results.json` (or any report's) and redraws the figures.
"""


def write_docs_page(results: dict, page: Path, figures, results_file=None) -> Path:
    """docs/results.md: the report with its figures (and results.json, which the claims notebook reads)
    copied into a folder next to it (``<page stem>/``)."""
    page = Path(page)
    fig_dir = page.parent / page.stem
    fig_dir.mkdir(parents=True, exist_ok=True)
    for f in list(figures) + ([results_file] if results_file is not None else []):
        shutil.copyfile(f, fig_dir / Path(f).name)
    body = render_report(results, figure_dir=page.stem).split("\n", 1)[1]
    head = ["# Results: FIRM's claims, measured", "", DOCS_INTRO]
    page.write_text("\n".join(head) + body, encoding="utf-8")
    return page
