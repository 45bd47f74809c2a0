"""Benchmark of the torch / LoRA RLHF backend (CPU or GPU; run with ``python benchmarks/bench_torch.py``).

For a tiny GPT-2-style model (2 layers, hidden 64; the `firm rlhf` default) and a GPT-2-small-size
config (12 layers, hidden 768, vocab 50257; random init), with a LoRA adapter (r = 8):

1. per-objective gradient methods side by side on the same RLHF losses (M objectives):
   forward + one backward of p^T L (scalarized), forward + M separate backward passes (reference),
   and full FIRM steps (gradients + float64 Gram + lambda + .grad) with "autograd", "batched", "fast";
   target: FIRM(autograd) <= (forward + M backward passes) * 1.10.
2. generation throughput (new tokens / s) of the sampler used by the RLHF loop (one batched
   ``generate`` over all prompts x completions of a step, with the KV cache);
3. peak memory of a federated round (RLHFTask through the engine) with N = 2 and N = 8 simulated
   clients (one shared base model; each case in a fresh subprocess, peak RSS on CPU /
   max_memory_allocated on GPU).

``--device auto`` measures on CUDA when a GPU is present (then with a realistic batch: 8 prompts x 8
completions x 64 new tokens for the larger models); ``--dtype bfloat16`` loads the base in bf16 (the
adapter, the losses' log-probabilities stay float32; Gram and lambda float64). ``--sizes`` may add
``smollm2`` (SmolLM2-135M-Instruct; needs its wheel).

Timings are medians over repeats; the machine may be shared, so compare ratios within one run.
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


def build(size: str, device, dtype: str = "float32"):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from backends.rlhf.policy import attach_lora, load_base

    if size == "tiny":
        base, tok = load_base("tiny", dtype=getattr(torch, dtype))
    elif size == "smollm2":
        base, tok = load_base("smollm2", dtype=getattr(torch, dtype))
    else:
        _, tok = load_base("tiny")  # ids < 1024 are valid for the larger vocabulary too
        torch.manual_seed(0)
        cfg = GPT2Config(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12,
                         bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id)
        base = GPT2LMHeadModel(cfg).to(getattr(torch, dtype)).eval()
        for p in base.parameters():
            p.requires_grad_(False)
    base.to(device)
    return attach_lora(base, seed=0), tok


def sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def timed_interleaved(fns: dict, device, repeats) -> dict:
    """Median seconds per call of each function, calls interleaved so machine drift hits all alike."""
    times = {k: [] for k in fns}
    for fn in fns.values():
        fn()  # warm-up
    for _ in range(repeats):
        for k, fn in fns.items():
            sync(device)
            t0 = time.perf_counter()
            fn()
            sync(device)
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def timed(fn, device, repeats):
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def bench_gradients(model, tok, device, m: int, repeats: int, group: int, prompts: int, new_tokens: int) -> dict:
    import numpy as np
    import torch

    from backends.rlhf.losses import group_advantages, policy_gradient_losses
    from backends.rlhf.policy import lora_parameters
    from backends.rlhf.prompts import all_prompts
    from backends.rlhf.rollout import completion_logprobs, reference_logprobs, sample_group
    from backends.torch_backend import MultiObjectiveStep, scalarized_backward

    ro = sample_group(model, tok, all_prompts()[:prompts], group, new_tokens, seed=0)
    ref = reference_logprobs(model, ro)
    rng = np.random.default_rng(0)
    adv = group_advantages(rng.normal(size=(len(ro.completions), m)), group)
    params = lora_parameters(model)

    def losses():
        logp = completion_logprobs(model, ro)
        ls, _ = policy_gradient_losses(logp, ref, ro.completion_mask, adv, 0.05, new_tokens)
        return ls, logp

    def forward_only():
        with torch.no_grad():
            losses()

    def scalarized():
        scalarized_backward(losses()[0], params)

    def m_backward():
        ls, _ = losses()
        for k, loss in enumerate(ls):
            torch.autograd.grad(loss, params, retain_graph=k < m - 1)

    fns = {"forward": forward_only, "scalarized (fwd + 1 bwd)": scalarized, f"fwd + {m} bwd": m_backward}
    for method in ("autograd", "batched", "fast"):
        step = MultiObjectiveStep(params, beta=0.5, method=method, beta_relative=True)

        def firm(step=step):
            ls, logp = losses()
            step.backward(ls, surrogate=logp)

        fns[f"FIRM {method}"] = firm
    res = timed_interleaved(fns, device, repeats)

    from backends.torch_backend import gram64, jacobian, solve_weights, write_grads

    jac = jacobian(losses()[0], params)

    def overhead():  # everything FIRM adds to the M backward passes, on a fixed Jacobian
        torch.isfinite(jac).all().item()
        q = gram64(jac)
        lam, _ = solve_weights(q, 0.5 * float(np.trace(q)) / m)
        write_grads(params, torch.as_tensor(lam, dtype=jac.dtype, device=jac.device) @ jac)

    res["overhead: Gram+lambda+.grad"] = timed(overhead, device, max(repeats, 20))
    return res


def bench_generation(model, tok, device, repeats: int, group: int, prompts: int, new_tokens: int) -> float:
    from backends.rlhf.prompts import all_prompts
    from backends.rlhf.rollout import sample_group

    n_tok = []

    def gen():
        ro = sample_group(model, tok, all_prompts()[:prompts], group, new_tokens, seed=1)
        n_tok.append(int(ro.input_ids.shape[0] * (ro.input_ids.shape[1] - ro.prompt_len)))

    t = timed(gen, device, repeats)
    return n_tok[-1] / t


MEMORY_CHILD = r"""
import json, resource, sys, torch
sys.path.insert(0, {root!r})
torch.set_num_threads({threads})
from benchmarks.bench_torch import build
from backends.rlhf.prompts import client_prompt_pools
from backends.rlhf.rewards import BrevityReward, SentimentReward
from backends.rlhf.task import RLHFTask
from backends.rlhf.trainer import RLHFConfig
from firm_core.federated import AlgorithmConfig
from firm_core.federated.algorithms import make_algorithm
dev = torch.device({device!r})
model, tok = build({size!r}, dev, {dtype!r})
task = RLHFTask(model, tok, [SentimentReward(), BrevityReward()], client_prompt_pools({n}),
                RLHFConfig(group_size={group}, prompts_per_step={prompts}, max_new_tokens={new_tokens}))
algo = make_algorithm(AlgorithmConfig(name="firm", beta=0.5, lr=1e-2, local_steps=1))
if dev.type == "cuda": torch.cuda.reset_peak_memory_stats()
algo.step(task, algo.init(task))  # one federated round of N clients through the engine
if dev.type == "cuda":
    peak = torch.cuda.max_memory_allocated()
else:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({{"peak_bytes": peak, "adapter_bytes": task.adapter_nbytes}}))
"""


def bench_memory(size, device, dtype, n, threads, group, prompts, new_tokens) -> dict:
    code = MEMORY_CHILD.format(root=str(ROOT), threads=threads, device=str(device), dtype=dtype, size=size, n=n,
                               group=group, prompts=prompts, new_tokens=new_tokens)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="tiny,gpt2-small")
    ap.add_argument("--objectives", type=int, default=2, help="M")
    ap.add_argument("--repeats", type=int, default=15, help="timing repeats (a third of them for gpt2-small)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    ap.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"),
                    help="precision of the base model (the LoRA adapter stays float32)")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)

    import torch

    from backends.rlhf.device import resolve_device, resolve_dtype

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    resolve_dtype(args.dtype, device)
    big = device.type == "cuda"  # a GPU takes the realistic batch of an RLHF step
    shapes = {"tiny": dict(group=8, prompts=4, new_tokens=24),
              "gpt2-small": dict(group=8, prompts=8, new_tokens=64) if big else dict(group=4, prompts=2, new_tokens=16),
              "smollm2": dict(group=8, prompts=8, new_tokens=64) if big else dict(group=4, prompts=2, new_tokens=16)}
    report = {"device": str(device) + (f" ({torch.cuda.get_device_name()})" if device.type == "cuda" else
                                        f" ({args.threads} thread(s))"), "dtype": args.dtype, "M": args.objectives,
              "sizes": {}}
    for size in args.sizes.split(","):
        sh = shapes[size]
        model, tok = build(size, device, args.dtype)
        n_params = sum(p.numel() for p in model.parameters())
        n_lora = sum(p.numel() for p in model.parameters() if p.requires_grad)
        reps = args.repeats if size == "tiny" or device.type == "cuda" else max(3, args.repeats // 3)
        grads = bench_gradients(model, tok, device, args.objectives, reps, **sh)
        gen = bench_generation(model, tok, device, max(2, args.repeats // 2), **sh)
        entry = {"params": n_params, "lora_params": n_lora, "shape": sh, "seconds": grads, "gen_tokens_per_s": gen}
        del model
        if not args.no_memory:
            entry["memory"] = {n: bench_memory(size, device, args.dtype, n, args.threads, **sh) for n in (2, 8)}
        report["sizes"][size] = entry
        print_size(size, entry, args.objectives)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    print(f"\ndevice: {report['device']}")
    return report


def print_size(size, e, m):
    s = e["seconds"]
    ref = s[f"fwd + {m} bwd"]
    sh = e["shape"]
    print(f"\n== {size}: {e['params'] / 1e6:.2f} M params, {e['lora_params'] / 1e3:.1f} k LoRA params, "
          f"{sh['prompts']} prompts x {sh['group']} completions x {sh['new_tokens']} tokens, M = {m}")
    print(f"{'step':<28}{'ms':>10}{'/ (fwd + M bwd)':>18}")
    for k, v in s.items():
        print(f"{k:<28}{1e3 * v:>10.1f}{v / ref:>18.2f}")
    ok = s["FIRM autograd"] <= 1.10 * ref
    print(f"target FIRM autograd <= 1.10 x (fwd + {m} bwd): {'met' if ok else 'MISSED'} "
          f"({s['FIRM autograd'] / ref:.2f})")
    print(f"generation: {e['gen_tokens_per_s']:.0f} new tokens / s")
    if "memory" in e:
        mem = e["memory"]
        p2, p8 = mem[2]["peak_bytes"] / 2**20, mem[8]["peak_bytes"] / 2**20
        print(f"peak memory, federated round: N=2 {p2:.0f} MiB, N=8 {p8:.0f} MiB (difference {p8 - p2:.1f} MiB; "
              f"6 extra adapters = {6 * mem[2]['adapter_bytes'] / 2**20:.2f} MiB)")


if __name__ == "__main__":
    main()
