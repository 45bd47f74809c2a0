"""``firm flower``: run FIRM on Flower, in Flower's simulation engine (default) or in-process.

    firm flower                                  # flwr run, simulation engine, 4 SuperNodes, 10 rounds
    firm flower --engine inprocess --rounds 20   # same strategy and ClientApp, no Ray (seconds)
    firm flower --dp client-fixed --noise-multiplier 0.5 --clipping-norm 1.0
    firm flower --checkpoint runs/fl/ckpt ; firm flower --resume runs/fl/ckpt --rounds 20

Writes history.json / history.csv into ``--out`` (default runs/flower) and prints a summary. For a
deployment with separate SuperLink / SuperNode processes use ``scripts/flower_deploy.sh``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import click


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
def flower(engine, clients, rounds, algorithm, local_steps, lr, beta, server_lr, participation, seed, noise_std,
           heterogeneity, dim, objectives, timeout, dp, noise_multiplier, clipping_norm, checkpoint, resume, out):
    """Run FIRM on Flower (Message API) on the heterogeneous-quadratics problem."""
    from firm_core.federated.history import History

    out = Path(out).resolve()
    absolute = lambda p: str(Path(p).resolve()) if p else None  # noqa: E731 - the app runs in another cwd
    try:
        settings = _settings(clients, rounds, algorithm, local_steps, lr, beta, server_lr, participation, seed, noise_std,
                             heterogeneity, dim, objectives, timeout, out, absolute(checkpoint), absolute(resume), dp,
                             noise_multiplier, clipping_norm)
        settings.algorithm.check_problem(settings.build_problem())  # fail here, not inside a started run
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(str(exc)) from None
    start = time.perf_counter()
    if engine == "inprocess":
        from .client_app import make_client_app
        from .inprocess import InProcessGrid
        from .server_app import run_strategy

        logging.getLogger("flwr").setLevel(logging.WARNING)
        with InProcessGrid(InProcessGrid.make_nodes(make_client_app(), clients)) as grid:
            history = run_strategy(grid, settings).history
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
    click.echo(f"{history.metadata.get('display_name', algorithm)} on Flower ({engine}), N={clients}, {len(history)} rounds, {wall:.1f} s")
    click.echo(f"  phi: {first.phi:.4e} -> {final['phi']:.4e}   objectives: {[round(v, 4) for v in final['objectives']]}")
    click.echo(f"  uplink per round: {first.uplink_floats} floats ({first.uplink_bytes} B)   "
               f"dropped clients: {final['dropped_clients']}   skipped rounds: {final['skipped_rounds']}")
    click.echo(f"  wrote {out / 'history.json'} and {out / 'history.csv'}")
