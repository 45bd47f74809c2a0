"""Min-norm solvers side by side: time per problem and accuracy, single solves and batches.

    python benchmarks/bench_solvers.py [--quick] [--small-only] [--reps R] [--against REF]

First table (the number that matters inside a training loop): one ``solve_min_norm(J)`` call on a
single problem with M in {2, 3, 5, 10}, d in {10, 100}, beta in {0, 0.1, 1}, for two families of
Jacobians (Gaussian rows plus a shared offset, and rank-deficient ones: rank max(1, M // 2) plus the
offset, whose Gram matrix is singular, the hard case at beta = 0): the median time per call of the
default ("auto", which takes the short route for single small problems) against the 40 us target,
of the same problems solved in one batched call (time per problem), and of cvxpy; repeated R times
(median of the per-repetition medians, with their range; the repetitions are the outer loop), with
the machine's load average printed.

For M in {2, 3, 5, 10} and d in {10, 10^4}: every method on the same random Jacobians (Gaussian rows
plus a shared offset, so the optimum mixes interior and boundary supports), beta in {0, 0.1 * scale}.
Reported: median time per problem, max relative KKT residual, max relative value gap to the exact
reference (active_set), and the speed-up of the default ("auto") over cvxpy and over frank_wolfe.
Batches: a stack of problems in one call vs a Python loop of single calls. Ratios, not absolute
times, are the result: they are measured side by side in one run.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import io
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

import firm_core as fc

METHODS = ["auto", "closed_form", "enumeration", "active_set", "projected_gradient", "frank_wolfe", "cvxpy"]


def instances(rng, n, m, d):
    jac = rng.normal(size=(n, m, d)) + rng.normal(size=(n, 1, d))
    return jac


def applicable(method, m):
    return not (method == "closed_form" and m != 2) and not (method == "enumeration" and m > 8)


def time_single(method, jacs, beta, reps):
    times, res = [], []
    for j in jacs[:reps]:
        t0 = time.perf_counter()
        r = fc.solve_min_norm(j, beta=beta, method=method)
        times.append(time.perf_counter() - t0)
        res.append(r)
    return float(np.median(times)), res


def accuracy(results, ref):
    kkt = max(float(np.max(r.kkt_residual)) for r in results)
    gaps = []
    for r, rr in zip(results, ref):
        scale = max(float(np.max(np.abs(rr.value))), 1e-300)
        gaps.append(float(np.max(np.abs(np.asarray(r.value, float) - rr.value))) / scale)
    return kkt, max(gaps)


def bench_single(rng, quick):
    rows = []
    for m in (2, 3, 5, 10):
        for d in (10, 10_000):
            jacs = instances(rng, 20 if quick else 40, m, d)
            scale = float(np.median(np.einsum("nmd,nmd->nm", jacs, jacs)))
            for beta in (0.0, 0.1 * scale):
                ref_t, ref = time_single("active_set", jacs, beta, len(jacs))
                timing = {}
                for meth in METHODS:
                    if not applicable(meth, m):
                        continue
                    reps = 10 if meth == "cvxpy" else len(jacs)
                    t, res = time_single(meth, jacs, beta, reps)
                    kkt, gap = accuracy(res, ref[:reps])
                    timing[meth] = t
                    rows.append(dict(M=m, d=d, beta=beta, method=meth, us=t * 1e6, kkt=kkt, gap=gap))
                for r in rows[-len(timing):]:
                    r["vs_cvxpy"] = timing["cvxpy"] / timing["auto"] if r["method"] == "auto" else None
                    r["vs_fw"] = timing["frank_wolfe"] / timing["auto"] if r["method"] == "auto" else None
    return rows


def bench_batch(rng, quick):
    rows = []
    n = 2_000 if quick else 10_000
    for m in (2, 3, 5):
        jacs = instances(rng, n, m, 10)
        loop_n = min(n, 2_000)
        t0 = time.perf_counter()
        singles = [fc.solve_min_norm(j, beta=0.1) for j in jacs[:loop_n]]
        t_loop = (time.perf_counter() - t0) / loop_n
        t_cvxpy, _ = time_single("cvxpy", jacs, 0.1, 10)
        for meth in ("auto", "enumeration", "active_set", "projected_gradient", "frank_wolfe"):
            if not applicable(meth, m):
                continue
            t0 = time.perf_counter()
            r = fc.solve_min_norm(jacs, beta=0.1, method=meth)
            t = (time.perf_counter() - t0) / n
            agree = float(np.max(np.abs(r.weights[:loop_n] - np.stack([s.weights for s in singles]))))
            rows.append(dict(M=m, method=meth, batch=n, us=t * 1e6, loop_us=t_loop * 1e6,
                             speedup=t_loop / t, cvxpy_us=t_cvxpy * 1e6, vs_cvxpy=t_cvxpy / t, kkt=float(r.kkt_residual.max()), agree=agree,
                             status=r.status.value))
    return rows


def _median_call_us(fn, items) -> float:
    times = []
    for it in items:
        t0 = time.perf_counter()
        fn(it)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e6


#: A single small solve (M <= 10, d <= 100) should take at most this long (median per call).
SINGLE_TARGET_US = 40.0
SMALL_BETAS = (0.0, 0.1, 1.0)


def rank_deficient(rng, n, m, d):
    """Jacobians of rank max(1, M // 2) plus a shared offset: singular Gram matrices for M >= 3."""
    r = max(1, m // 2)
    return rng.normal(size=(n, m, r)) @ rng.normal(size=(n, r, d)) + rng.normal(size=(n, 1, d))


def load_reference(ref: str):
    """firm_core as of the git commit ``ref``, imported as the package ``firm_core_ref``."""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(["git", "archive", ref, "firm_core"], cwd=root, capture_output=True)
    if done.returncode != 0:
        sys.exit(f"bench_solvers: --against {ref!r}: git archive failed: {done.stderr.decode().strip()}")
    where = Path(tempfile.mkdtemp(prefix="firm_core_ref_"))
    atexit.register(shutil.rmtree, where, ignore_errors=True)
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as tar:
        tar.extractall(where, filter="data")
    (where / "firm_core").rename(where / "firm_core_ref")
    sys.path.insert(0, str(where))
    return importlib.import_module("firm_core_ref")


def bench_small(rng, quick, reps, ref=None):
    """Single small solves: auto (short route) vs the batched path (per problem) vs cvxpy, and vs
    ``ref`` (another firm_core, see :func:`load_reference`) when given. The repetitions are the
    outer loop, so a change in the machine's load spreads over every cell."""
    n = 20 if quick else 40
    cells = [dict(family=family, M=m, d=d, beta=beta, jacs=jacs, auto=[], batched=[], cvxpy=[], ref=[])
             for family, make in (("gaussian", instances), ("rank-deficient", rank_deficient))
             for m in (2, 3, 5, 10) for d in (10, 100) for jacs in [make(rng, n, m, d)] for beta in SMALL_BETAS]
    for _ in range(reps):
        for c in cells:
            jacs, beta = c["jacs"], c["beta"]
            c["auto"].append(_median_call_us(lambda j: fc.solve_min_norm(j, beta=beta), jacs))
            if ref is not None:
                c["ref"].append(_median_call_us(lambda j: ref.solve_min_norm(j, beta=beta), jacs))
            t0 = time.perf_counter()
            fc.solve_min_norm(jacs, beta=beta)
            c["batched"].append((time.perf_counter() - t0) / n * 1e6)
            c["cvxpy"].append(_median_call_us(lambda j: fc.solve_min_norm(j, beta=beta, method="cvxpy"), jacs[:3]))
    rows = []
    for c in cells:
        res = [fc.solve_min_norm(j, beta=c["beta"]) for j in c["jacs"]]
        assert all(r.success for r in res), "an auto solve did not converge"
        rows.append(dict(family=c["family"], M=c["M"], d=c["d"], beta=c["beta"], auto=float(np.median(c["auto"])),
                         lo=min(c["auto"]), hi=max(c["auto"]), batched=float(np.median(c["batched"])),
                         cvxpy=float(np.median(c["cvxpy"])), kkt=max(float(r.kkt_residual) for r in res),
                         method=res[0].method, ref=float(np.median(c["ref"])) if c["ref"] else None,
                         ratio=float(np.median(np.divide(c["auto"], c["ref"]))) if c["ref"] else None))
    return rows


def fmt_small(rows, ref_name=None):
    vs = f" {ref_name} us/call | this / {ref_name} |" if ref_name else ""
    out = [f"| family | M | d | beta | auto median us/call (range over reps) | <= {SINGLE_TARGET_US:.0f} us | "
           f"batched us/problem | cvxpy us/call | cvxpy / auto | max rel. KKT | auto ran |{vs}",
           "|---|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if ref_name else "")]
    for r in rows:
        met = "yes" if r["auto"] <= SINGLE_TARGET_US else "**no**"
        cmp = f" {r['ref']:.1f} | {r['ratio']:.2f} |" if ref_name else ""
        out.append(f"| {r['family']} | {r['M']} | {r['d']} | {r['beta']:g} | {r['auto']:.1f} ({r['lo']:.1f}-{r['hi']:.1f}) | "
                   f"{met} | {r['batched']:.1f} | {r['cvxpy']:.0f} | {r['cvxpy'] / r['auto']:.0f}x | {r['kkt']:.1e} | "
                   f"{r['method']} |{cmp}")
    worst = max(rows, key=lambda r: r["auto"])
    met = sum(r["auto"] <= SINGLE_TARGET_US for r in rows)
    out.append(f"\n{met} of {len(rows)} cells meet the {SINGLE_TARGET_US:.0f} us target; worst median "
               f"{worst['auto']:.1f} us ({worst['family']}, M = {worst['M']}, d = {worst['d']}, beta = {worst['beta']:g})")
    if ref_name:
        ratios = [r["ratio"] for r in rows]
        out.append(f"this tree / {ref_name}, per cell (median over repetitions of the ratio of the medians): "
                   f"{min(ratios):.2f}-{max(ratios):.2f}, median {float(np.median(ratios)):.2f}")
    return "\n".join(out)


def fmt_single(rows):
    out = ["| M | d | beta | method | median us/solve | max rel. KKT | max rel. value gap | auto vs cvxpy | auto vs FW |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        vs_c = f"{r['vs_cvxpy']:.0f}x" if r["vs_cvxpy"] else ""
        vs_f = f"{r['vs_fw']:.1f}x" if r["vs_fw"] else ""
        out.append(f"| {r['M']} | {r['d']} | {r['beta']:.3g} | {r['method']} | {r['us']:.1f} | {r['kkt']:.1e} | "
                   f"{r['gap']:.1e} | {vs_c} | {vs_f} |")
    return "\n".join(out)


def fmt_batch(rows):
    out = ["| M | method | batch | us/problem (batched) | us/problem (loop of auto) | speed-up vs loop | "
           "us/problem (cvxpy) | speed-up vs cvxpy | max rel. KKT | max |batch - loop| | status |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['M']} | {r['method']} | {r['batch']} | {r['us']:.2f} | {r['loop_us']:.1f} | {r['speedup']:.0f}x | "
                   f"{r['cvxpy_us']:.0f} | {r['vs_cvxpy']:.0f}x | {r['kkt']:.1e} | {r['agree']:.1e} | {r['status']} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer instances (smoke run)")
    ap.add_argument("--small-only", action="store_true", help="only the single-small-solve table")
    ap.add_argument("--reps", type=int, default=9, help="repetitions of the single-small-solve timings")
    ap.add_argument("--against", metavar="REF", help="also time firm_core at this git commit, interleaved (ratios)")
    args = ap.parse_args()
    ref = load_reference(args.against) if args.against else None
    rng = np.random.default_rng(0)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, python "
          f"{platform.python_version()}, numpy {np.__version__}; load average {os.getloadavg()[0]:.2f}")
    print(f"\nSingle small solves (seed 0; {args.reps} repetitions of the median over {20 if args.quick else 40} "
          "instances per cell; cvxpy on 3 instances per repetition)\n")
    print(fmt_small(bench_small(rng, args.quick, args.reps, ref), args.against))
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.small_only:
        return
    print("\nSingle solves, every method (one problem per call; cvxpy on 10 instances)\n")
    print(fmt_single(bench_single(rng, args.quick)))
    print("\nBatches (d = 10, beta = 0.1; loop = Python loop of single 'auto' solves over the first 2000;"
          " cvxpy = median single cvxpy solve on 10 of the same instances)\n")
    print(fmt_batch(bench_batch(rng, args.quick)))


if __name__ == "__main__":
    main()
