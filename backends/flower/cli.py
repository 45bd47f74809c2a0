"""``firm flower``: run FIRM on Flower, in Flower's simulation engine (default) or in-process.

    firm flower                                  # flwr run, simulation engine, 4 SuperNodes, 10 rounds
    firm flower --engine inprocess --rounds 20   # same strategy and ClientApp, no Ray (seconds)
    firm flower --dp client-fixed --noise-multiplier 0.5 --clipping-norm 1.0
    firm flower --checkpoint runs/fl/ckpt ; firm flower --resume runs/fl/ckpt --rounds 20
    firm flower --engine inprocess --backend rlhf --clients 2 --rounds 2   # LoRA RLHF clients (torch)

Writes history.json / history.csv into ``--out`` (default runs/flower) and prints a summary. For a
deployment with separate SuperLink / SuperNode processes use ``scripts/flower_deploy.sh``.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import click


#: The small LoRA RLHF task of ``--backend rlhf`` (RLHFTaskSpec defaults: tiny offline model, rewards
#: positive_sentiment + brevity; 2 prompts x 4 completions x 8 new tokens per local step).
RLHF_TASK = {"name": "rlhf", "group_size": 4, "prompts_per_step": 2, "max_new_tokens": 8}
#: Algorithm defaults of ``--backend rlhf`` where the user left the option at its numpy default.
RLHF_ALGORITHM_DEFAULTS = {"local_steps": 2, "lr": 1e-2}
#: Options of the numpy quadratics problem / DP, refused with ``--backend rlhf`` when not at their default.
NUMPY_ONLY_OPTIONS = ("dim", "objectives", "noise_std", "heterogeneity", "dp", "noise_multiplier", "clipping_norm")


def _rlhf_settings(clients, rounds, algorithm, local_steps, lr, beta, server_lr, participation, seed, timeout, out,
                   checkpoint, resume):
    """FlowerSettings(backend="rlhf") on :data:`RLHF_TASK` with N = ``clients`` (validates the spec)."""
    from firm_core.federated.config import AlgorithmConfig

    from .settings import FlowerSettings

    alg = AlgorithmConfig(name=algorithm, local_steps=local_steps, lr=lr, server_lr=server_lr,
                          beta=None if algorithm == "fedavg_ls" else beta, participation=participation, seed=seed)
    return FlowerSettings(problem={**RLHF_TASK, "num_clients": clients, "seed": seed}, algorithm=alg, rounds=rounds,
                          timeout=timeout, out_dir=str(out), checkpoint_dir=checkpoint or "",
                          resume_from=resume or "", backend="rlhf")


def _refuse_numpy_only(ctx: click.Context, engine: str) -> None:
    """Usage error for ``--backend rlhf`` with the simulation engine or with a numpy-only option set to a
    value other than its default (``--dp none`` passes: it is what the rlhf backend does)."""
    if engine != "inprocess":
        raise click.UsageError("--backend rlhf runs only with --engine inprocess: the app's run config declares the "
                               "quadratics problem.* keys, so `flwr run --run-config` cannot carry the RLHF task spec "
                               "(for flwr run, edit backends/flower/app/pyproject.toml; see backends/flower/README.md)",
                               ctx=ctx)
    defaults = {p.name: p.default for p in ctx.command.params}
    for name in NUMPY_ONLY_OPTIONS:
        if ctx.params[name] != defaults[name]:
            option = "--" + name.replace("_", "-")
            raise click.UsageError(f"{option} applies to the numpy backend only, not to --backend rlhf "
                                   f"(got {option} {ctx.params[name]!r})", ctx=ctx)


def _settings(clients, rounds, algorithm, local_steps, lr, beta, server_lr, participation, seed, noise_std,
              heterogeneity, dim, objectives, timeout, out, checkpoint, resume, dp, noise_multiplier, clipping_norm):
    from firm_core.federated.config import AlgorithmConfig

    from .settings import DPSettings, FlowerSettings

    problem = {"name": "quadratics", "num_clients": clients, "num_objectives": objectives, "dim": dim,
               "heterogeneity": heterogeneity, "noise_std": noise_std, "seed": seed}
    alg = AlgorithmConfig(name=algorithm, local_steps=local_steps, lr=lr, server_lr=server_lr,
                          beta=None if algorithm == "fedavg_ls" else beta, participation=participation, seed=seed)
    return FlowerSettings(problem=problem, algorithm=alg, rounds=rounds, timeout=timeout, out_dir=str(out),
                          checkpoint_dir=checkpoint or "", resume_from=resume or "",
                          dp=DPSettings(mode=dp, noise_multiplier=noise_multiplier, clipping_norm=clipping_norm))


def _run_config(settings) -> dict:
    """The app's run-config overrides for ``settings`` (keys declared in the app's pyproject)."""
    a, p, dp = settings.algorithm, settings.problem, settings.dp
    cfg = {
        "num-server-rounds": settings.rounds, "timeout": settings.timeout, "out-dir": settings.out_dir,
        "checkpoint-dir": settings.checkpoint_dir, "resume-from": settings.resume_from,
        "algorithm.name": a.name, "algorithm.local-steps": a.local_steps, "algorithm.lr": a.lr,
        "algorithm.beta": a.effective_beta if a.name != "fedavg_ls" else 0.0, "algorithm.server-lr": a.server_lr,
        "algorithm.participation": a.participation or 0, "algorithm.seed": a.seed,
        "dp.mode": dp.mode, "dp.noise-multiplier": dp.noise_multiplier, "dp.clipping-norm": dp.clipping_norm,
    }
    cfg.update({f"problem.{k.replace('_', '-')}": v for k, v in p.items()})
    return cfg


@click.command(name="flower")
@click.option("--backend", type=click.Choice(["numpy", "rlhf"]), default="numpy", show_default=True,
              help="numpy: heterogeneous quadratics; rlhf: LoRA RLHF clients on the tiny offline model (torch, "
                   "--engine inprocess only; default K=2, lr=1e-2; no --dp nor quadratics options).")
@click.option("--engine", type=click.Choice(["simulation", "inprocess"]), default="simulation", show_default=True,
              help="simulation: `flwr run` on Flower's Ray simulation engine; inprocess: no Ray, one process.")
@click.option("--clients", type=click.IntRange(1), default=4, show_default=True, help="N clients (= SuperNodes).")
@click.option("--rounds", type=click.IntRange(1), default=10, show_default=True)
@click.option("--algorithm", type=click.Choice(["firm", "local_mgda", "fedavg_ls"]), default="firm", show_default=True)
@click.option("--local-steps", type=click.IntRange(1), default=5, show_default=True)
@click.option("--lr", type=float, default=0.05, show_default=True)
@click.option("--beta", type=float, default=1.0, show_default=True)
@click.option("--server-lr", type=float, default=1.0, show_default=True)
@click.option("--participation", type=click.IntRange(1), default=None, help="S clients per round (default: all).")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option("--noise-std", type=float, default=0.1, show_default=True, help="Stochastic-gradient noise sigma.")
@click.option("--heterogeneity", type=float, default=1.0, show_default=True)
@click.option("--dim", type=click.IntRange(1), default=5, show_default=True)
@click.option("--objectives", type=click.IntRange(1), default=2, show_default=True)
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds to wait for a round's replies.")
@click.option("--dp", type=click.Choice(["none", "client-fixed", "server-fixed"]), default="none", show_default=True)
@click.option("--noise-multiplier", type=float, default=0.0, show_default=True)
@click.option("--clipping-norm", type=float, default=1.0, show_default=True)
@click.option("--checkpoint", type=click.Path(file_okay=False), default=None, help="Write a checkpoint here after each round.")
@click.option("--resume", type=click.Path(exists=True, file_okay=False), default=None, help="Continue from this checkpoint.")
@click.option("--out", type=click.Path(file_okay=False), default="runs/flower", show_default=True)
@click.pass_context
def flower(ctx, backend, engine, clients, rounds, algorithm, local_steps, lr, beta, server_lr, participation, seed, noise_std,
           heterogeneity, dim, objectives, timeout, dp, noise_multiplier, clipping_norm, checkpoint, resume, out):
    """Run FIRM on Flower (Message API) on the heterogeneous-quadratics problem or (--backend rlhf) LoRA RLHF."""
    from firm_core.federated.history import History

    out = Path(out).resolve()
    absolute = lambda p: str(Path(p).resolve()) if p else None  # noqa: E731 - the app runs in another cwd
    if backend == "rlhf":
        _refuse_numpy_only(ctx, engine)
        default = lambda name: ctx.get_parameter_source(name) == click.core.ParameterSource.DEFAULT  # noqa: E731
        local_steps = RLHF_ALGORITHM_DEFAULTS["local_steps"] if default("local_steps") else local_steps
        lr = RLHF_ALGORITHM_DEFAULTS["lr"] if default("lr") else lr
    try:
        if backend == "rlhf":
            settings = _rlhf_settings(clients, rounds, algorithm, local_steps, lr, beta, server_lr, participation, seed,
                                      timeout, out, absolute(checkpoint), absolute(resume))
        else:
            settings = _settings(clients, rounds, algorithm, local_steps, lr, beta, server_lr, participation, seed,
                                 noise_std, heterogeneity, dim, objectives, timeout, out, absolute(checkpoint),
                                 absolute(resume), dp, noise_multiplier, clipping_norm)
        settings.algorithm.check_problem(settings.build_problem())  # fail here, not inside a started run
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(str(exc)) from None
    start = time.perf_counter()
    train_metrics = {}  # Flower's per-round train metrics (in-process only: rewards / KL of the rlhf backend)
    if engine == "inprocess":
        from .client_app import make_client_app
        from .inprocess import InProcessGrid
        from .server_app import run_strategy

        logging.getLogger("flwr").setLevel(logging.WARNING)
        with InProcessGrid(InProcessGrid.make_nodes(make_client_app(), clients)) as grid:
            run = run_strategy(grid, settings)
        history, train_metrics = run.history, run.result.train_metrics_clientapp
    else:
        from .launch import run_app

        outcome = run_app(num_supernodes=clients, run_config=_run_config(settings), timeout=max(600.0, 10 * timeout),
                          progress=True)
        click.echo(f"flwr ls: run {outcome.run_id} {outcome.status} ({outcome.details}); SuperLink log {outcome.superlink_log}")
        if not outcome.ok:
            raise click.ClickException(f"the Flower run did not complete: {outcome.status} {outcome.details}")
        history = History.from_json(out / "history.json")
    wall = time.perf_counter() - start
    final = history.final()
    first = history.records[0]
    click.echo(f"{history.metadata.get('display_name', algorithm)} on Flower ({engine}, {backend}), N={clients}, "
               f"{len(history)} rounds, {wall:.1f} s")
    for line in _progress_lines(first, final, train_metrics, backend):
        click.echo(line)
    click.echo(f"  uplink per round: {first.uplink_floats} floats ({first.uplink_bytes} B)   "
               f"dropped clients: {final['dropped_clients']}   skipped rounds: {final['skipped_rounds']}")
    click.echo(f"  wrote {out / 'history.json'} and {out / 'history.csv'}")


def _progress_lines(first, final: dict, train_metrics, backend: str) -> list[str]:
    """phi(x_0) -> phi(x_T) and F(x_T) when finite; else (rlhf: no full gradients, NaN) the last round's
    mean training rewards and KL from Flower's train metrics when present; else nothing."""
    if math.isfinite(first.phi) and math.isfinite(final.get("phi", math.nan)):
        return [f"  phi: {first.phi:.4e} -> {final['phi']:.4e}   objectives: {[round(v, 4) for v in final['objectives']]}"]
    if backend != "rlhf" or not train_metrics:
        return []
    from .rlhf import KL_KEY, REWARDS_KEY  # needs torch: only reached with the rlhf backend

    last_round = max(train_metrics)
    metrics = train_metrics[last_round]
    parts = []
    if REWARDS_KEY in metrics:
        parts.append(f"mean rewards: {[round(float(v), 4) for v in metrics[REWARDS_KEY]]}")
    if KL_KEY in metrics:
        parts.append(f"KL: {float(metrics[KL_KEY]):.4e}")
    return [f"  round {last_round}: " + "   ".join(parts)] if parts else []
