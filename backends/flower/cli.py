"""``firm flower``: run FIRM on Flower, in Flower's simulation engine (default) or in-process.

    firm flower                                  # flwr run, simulation engine, 4 SuperNodes, 10 rounds
    firm flower --engine inprocess --rounds 20   # same strategy and ClientApp, no Ray (seconds)
    firm flower --dp client-fixed --noise-multiplier 0.5 --clipping-norm 1.0
    firm flower --checkpoint runs/fl/ckpt ; firm flower --resume runs/fl/ckpt --rounds 20
    firm flower --backend rlhf --clients 2 --rounds 2   # LoRA RLHF clients (torch), flwr run of app_rlhf
    firm flower --backend rlhf --config task.toml       # the task of `firm rlhf --config task.toml`

Writes history.json / history.csv into ``--out`` (default runs/flower) and prints a summary. For a
deployment with separate SuperLink / SuperNode processes use ``scripts/flower_deploy.sh``.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import click

from . import cli_checks

#: The small LoRA RLHF task of ``--backend rlhf`` without ``--config`` (LLMTaskConfig defaults: tiny offline
#: model, rewards positive_sentiment + brevity; 2 prompts x 4 completions x 8 new tokens per local step).
RLHF_TASK = {"name": "rlhf", "group_size": 4, "prompts_per_step": 2, "max_new_tokens": 8}
#: Algorithm defaults of ``--backend rlhf`` where the user left the option at its numpy default.
RLHF_ALGORITHM_DEFAULTS = {"local_steps": 2, "lr": 1e-2}
#: Options of the numpy quadratics problem / DP, refused with ``--backend rlhf`` when not at their default.
NUMPY_ONLY_OPTIONS = ("dim", "objectives", "noise_std", "heterogeneity", "dp", "noise_multiplier", "clipping_norm")
#: Options of the rlhf backend, refused with ``--backend numpy`` when not at their default.
RLHF_ONLY_OPTIONS = ("model", "rewards", "device")
#: Default reward sources of ``--backend rlhf``.
DEFAULT_REWARDS = ("positive_sentiment", "brevity")
#: Real-valued options: (minimum, strict) of each; every one must also be finite.
NUMBER_OPTIONS = {
    "lr": (0.0, True), "beta": (0.0, False), "server_lr": (0.0, True), "noise_std": (0.0, False),
    "heterogeneity": (0.0, False), "timeout": (0.0, True), "noise_multiplier": (0.0, False), "clipping_norm": (0.0, True),
}


def _option(name: str) -> str:
    return "--" + {"rewards": "reward"}.get(name, name).replace("_", "-")


def _refuse_other_backend_options(ctx: click.Context, backend: str, engine: str) -> None:
    """Usage error for an option of the other backend set to a value other than its default (``--dp
    none`` passes: it is what rlhf does)."""
    defaults = {p.name: p.get_default(ctx) for p in ctx.command.params}
    foreign = NUMPY_ONLY_OPTIONS if backend == "rlhf" else RLHF_ONLY_OPTIONS
    for name in foreign:
        value, default = ctx.params[name], defaults[name]
        if isinstance(value, tuple):  # a repeatable option: unset is ()
            value, default = tuple(value), tuple(default or ())
        if value != default:
            raise click.UsageError(f"{_option(name)} applies to the {'numpy' if backend == 'rlhf' else 'rlhf'} backend "
                                   f"only, not to --backend {backend} (got {_option(name)} {value!r})", ctx=ctx)


def _check_options(ctx: click.Context, backend: str, num_objectives: int | None = None) -> dict:
    """Every option checked on its own (one-line errors naming it); returns the cleaned values that change.
    ``num_objectives``: M of a ``--config`` task (else the --reward count, or --objectives)."""
    p = ctx.params
    for name, (minimum, strict) in NUMBER_OPTIONS.items():
        cli_checks.finite_number(p[name], _option(name), minimum=minimum, strict=strict)
    out = {"out": cli_checks.writable_directory(p["out"], "--out")}
    if p["checkpoint"]:
        out["checkpoint"] = cli_checks.writable_directory(p["checkpoint"], "--checkpoint")
    if backend == "rlhf":
        from .rlhf.pretrained import BUILTIN_MODELS, BUILTIN_REWARDS

        cli_checks.pretrained_name(p["model"], "--model", BUILTIN_MODELS)
        rewards = tuple(p["rewards"]) or DEFAULT_REWARDS
        for reward in rewards:
            cli_checks.pretrained_name(reward, "--reward", BUILTIN_REWARDS)
        if len(set(rewards)) != len(rewards):
            raise click.BadParameter(f"names an objective twice: {list(rewards)}", param_hint="--reward")
        out["rewards"] = rewards
        from backends.rlhf.device import check_device_spec

        try:
            out["device"] = check_device_spec(p["device"])
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--device") from None
    if num_objectives is None:
        num_objectives = len(out["rewards"]) if backend == "rlhf" else p["objectives"]
    out["preference"] = cli_checks.preference(p["preference"], num_objectives)
    if p["participation"] is not None and p["participation"] > p["clients"]:
        raise click.BadParameter(f"must be at most --clients {p['clients']} (S of N clients per round), got "
                                 f"{p['participation']}", param_hint="--participation")
    return out


def _settings(backend, problem: dict, algorithm: dict, rounds, timeout, out, checkpoint, resume, dp):
    """FlowerSettings of the command line; validates the problem spec without loading a model."""
    from firm_core.federated.config import AlgorithmConfig

    from .settings import DPSettings, FlowerSettings

    alg = dict(algorithm)
    if alg.get("name") == "fedavg_ls":
        alg["beta"] = None
    return FlowerSettings(problem=problem, algorithm=AlgorithmConfig(**alg), rounds=rounds, timeout=timeout,
                          out_dir=str(out), checkpoint_dir=str(checkpoint or ""), resume_from=str(resume or ""),
                          backend=backend, dp=DPSettings(**dp))


def _rlhf_task(ctx: click.Context, config_path, file_sections, checked: dict) -> tuple[dict, dict, int | None]:
    """(problem, algorithm fields of the file, rounds of the file or None) of ``--backend rlhf``.

    With ``--config``: ``file_sections``, the [task] / [algorithm] / [run] tables read exactly as ``firm rlhf
    --config`` reads them (``backends.rlhf.cli.config_sections``); --model, --reward, --device, --clients and --seed given on
    the command line override the file. Without: :data:`RLHF_TASK` with the options. Relative paths
    (prompts file, file.py:callable rewards, model and reward-model folders) are made absolute against
    the current directory: the Flower apps run elsewhere."""
    from backends.rlhf.build import with_absolute_paths

    from .rlhf.settings import problem_of, task_config

    p = ctx.params
    given = lambda name: ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT  # noqa: E731
    alg, rounds = {}, None
    if config_path:
        task, alg, run = file_sections
        rounds = run["rounds"]
        overrides = {"model": "model", "rewards": "rewards", "device": "device", "clients": "num_clients",
                     "seed": "seed"}
        for option, field_name in overrides.items():
            if given(option):
                task[field_name] = list(checked["rewards"]) if option == "rewards" else checked.get(option, p[option])
    else:
        task = {**RLHF_TASK, "num_clients": p["clients"], "seed": p["seed"], "model": p["model"],
                "rewards": list(checked["rewards"]), "device": checked["device"]}
    try:
        cfg = with_absolute_paths(task_config({"name": "rlhf", **task}), Path.cwd())
    except (TypeError, ValueError) as exc:
        raise click.UsageError(f"{'--config ' + str(config_path) + ' [task]: ' if config_path else ''}{exc}") from None
    return problem_of(cfg), alg, rounds


def _algorithm(ctx: click.Context, backend: str, from_file: dict, preference) -> dict:
    """The algorithm fields: the file's (``--config``), overridden by options given on the command line;
    options left at their default fill what the file leaves out (``--backend rlhf``: K = 2, lr = 1e-2)."""
    p = ctx.params
    given = lambda name: ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT  # noqa: E731
    alg = {k: v for k, v in from_file.items() if v is not None}
    options = {"algorithm": "name", "local_steps": "local_steps", "lr": "lr", "beta": "beta", "server_lr": "server_lr",
               "participation": "participation", "seed": "seed"}
    for option, field_name in options.items():
        value = p[option]
        if backend == "rlhf" and not given(option) and option in RLHF_ALGORITHM_DEFAULTS:
            value = RLHF_ALGORITHM_DEFAULTS[option]
        if given(option) or field_name not in alg:
            alg[field_name] = value
    if given("preference") or "preference" not in alg:
        alg["preference"] = preference
    return alg


@click.command(name="flower")
@click.option("--backend", type=click.Choice(["numpy", "rlhf"]), default="numpy", show_default=True,
              help="numpy: heterogeneous quadratics; rlhf: LoRA RLHF clients on the tiny offline model (torch; "
                   "default K=2, lr=1e-2; no --dp nor quadratics options).")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="rlhf: a TOML / YAML file with the [task] (and [algorithm], [run]) tables of `firm rlhf --config`; "
                   "the same task runs on Flower. --model, --reward, --device, --clients, --seed and the algorithm "
                   "options given here override it. Relative paths in it are resolved against the current directory.")
@click.option("--engine", type=click.Choice(["simulation", "inprocess"]), default="simulation", show_default=True,
              help="simulation: `flwr run` on Flower's Ray simulation engine; inprocess: no Ray, one process.")
@click.option("--clients", type=click.IntRange(1), default=4, show_default=True, help="N clients (= SuperNodes).")
@click.option("--rounds", type=click.IntRange(1), default=10, show_default=True)
@click.option("--algorithm", type=click.Choice(["firm", "local_mgda", "fedavg_ls"]), default="firm", show_default=True)
@click.option("--local-steps", type=click.IntRange(1), default=5, show_default=True)
@click.option("--lr", type=float, default=0.05, show_default=True)
@click.option("--beta", type=float, default=1.0, show_default=True,
              help="FIRM's regularization, absolute (the same convention as firm run and the Python API).")
@click.option("--server-lr", type=float, default=1.0, show_default=True)
@click.option("--preference", default=None, help="Preference p over the objectives, e.g. 0.7,0.3 (normalized). "
              "Default uniform.")
@click.option("--participation", type=click.IntRange(1), default=None, help="S clients per round (default: all).")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option("--noise-std", type=float, default=0.1, show_default=True, help="Stochastic-gradient noise sigma.")
@click.option("--heterogeneity", type=float, default=1.0, show_default=True)
@click.option("--dim", type=click.IntRange(1), default=5, show_default=True)
@click.option("--objectives", type=click.IntRange(1), default=2, show_default=True)
@click.option("--model", default="tiny", show_default=True,
              help="rlhf: policy model: tiny, smollm2, or a directory saved by save_pretrained.")
@click.option("--reward", "rewards", multiple=True, default=(),
              help="rlhf: reward source (repeatable): harmless, helpful, positive_sentiment, brevity, a "
                   "reward-model directory, module:callable or file.py:callable. Default: positive_sentiment and "
                   "brevity.")
@click.option("--device", default="cpu", show_default=True,
              help="rlhf: where each client's base model runs: cpu, cuda, cuda:N or auto. With one SuperNode per "
                   "GPU (CUDA_VISIBLE_DEVICES), cuda is that SuperNode's GPU.")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds to wait for a round's replies.")
@click.option("--dp", type=click.Choice(["none", "client-fixed", "server-fixed"]), default="none", show_default=True)
@click.option("--noise-multiplier", type=float, default=0.0, show_default=True)
@click.option("--clipping-norm", type=float, default=1.0, show_default=True)
@click.option("--checkpoint", type=click.Path(file_okay=False), default=None, help="Write a checkpoint here after each round.")
@click.option("--resume", type=click.Path(exists=True, file_okay=False), default=None, help="Continue from this checkpoint.")
@click.option("--out", type=click.Path(file_okay=False), default="runs/flower", show_default=True)
@click.pass_context
def flower(ctx, backend, config_path, engine, clients, rounds, algorithm, local_steps, lr, beta, server_lr, preference, participation,
           seed, noise_std, heterogeneity, dim, objectives, model, rewards, device, timeout, dp, noise_multiplier,
           clipping_norm, checkpoint, resume, out):
    """Run FIRM on Flower (Message API) on the heterogeneous-quadratics problem or (--backend rlhf) LoRA RLHF."""
    from firm_core.federated.history import History

    _refuse_other_backend_options(ctx, backend, engine)
    if config_path and backend != "rlhf":
        raise click.UsageError(f"--config applies to --backend rlhf only (got --backend {backend})", ctx=ctx)
    file_task = None
    if config_path:
        from backends.rlhf.cli import config_sections

        file_task = config_sections(config_path)
    num_objectives = None
    if file_task is not None and ctx.get_parameter_source("rewards") == click.core.ParameterSource.DEFAULT:
        num_objectives = len(file_task[0]["rewards"])
    checked = _check_options(ctx, backend, num_objectives)
    out, checkpoint = checked["out"], checked.get("checkpoint")
    resume = str(Path(resume).resolve()) if resume else None  # the app may run in another cwd
    if backend == "rlhf":
        problem, alg_file, file_rounds = _rlhf_task(ctx, config_path, file_task, checked)
        if file_rounds is not None and ctx.get_parameter_source("rounds") == click.core.ParameterSource.DEFAULT:
            rounds = file_rounds
        clients = problem["num_clients"]
    else:
        problem = {"name": "quadratics", "num_clients": clients, "seed": seed, "num_objectives": objectives, "dim": dim,
                   "heterogeneity": heterogeneity, "noise_std": noise_std}
        alg_file = {}
    dp_options = {"mode": dp, "noise_multiplier": noise_multiplier, "clipping_norm": clipping_norm}
    try:
        alg = _algorithm(ctx, backend, alg_file, checked["preference"])
        settings = _settings(backend, problem, alg, rounds, timeout, out, checkpoint, resume, dp_options)
        problem = settings.build_problem() if backend == "numpy" else None  # rlhf: loading waits for the run
        if problem is not None:
            settings.algorithm.check_problem(problem)
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(str(exc)) from None
    if resume:
        cli_checks.resumable_checkpoint(resume, settings.algorithm, problem, rounds)
    start = time.perf_counter()
    train_metrics = {}  # Flower's per-round train metrics (in-process only: rewards / KL of the rlhf backend)
    if engine == "inprocess":
        history, train_metrics = _run_inprocess(settings, clients, backend)
    else:
        from .launch import APP_DIRS, run_app

        outcome = run_app(num_supernodes=clients, run_config=settings.to_run_config(), app_dir=APP_DIRS[backend],
                          timeout=max(600.0, 10 * timeout), progress=True)
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


def _run_inprocess(settings, clients: int, backend: str):
    """(History, Flower's train metrics) of an in-process run. A model or reward that fails to load
    (the rlhf backend builds its task here) is a one-line error naming the options."""
    from .client_app import make_client_app
    from .inprocess import InProcessGrid
    from .server_app import run_strategy

    logging.getLogger("flwr").setLevel(logging.WARNING)
    if backend == "rlhf":
        try:
            settings.build_problem()
        except (OSError, ValueError, RuntimeError) as exc:
            p = settings.problem
            raise click.ClickException(f"--model {p['model']!r} / --reward {','.join(p['rewards'])}: the RLHF task did "
                                       f"not load: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    with InProcessGrid(InProcessGrid.make_nodes(make_client_app(), clients)) as grid:
        run = run_strategy(grid, settings)
    return run.history, run.result.train_metrics_clientapp


def _progress_lines(first, final: dict, train_metrics, backend: str) -> list[str]:
    """phi(x_0) -> phi(x_T) and F(x_T) when finite; else (rlhf: no full gradients, NaN) the last round's
    mean training rewards and KL from Flower's train metrics when present; else nothing."""
    if math.isfinite(first.phi) and math.isfinite(final.get("phi", math.nan)):
        return [f"  phi: {first.phi:.4e} -> {final['phi']:.4e}   objectives: {[round(v, 4) for v in final['objectives']]}"]
    if backend != "rlhf" or not train_metrics:
        return []
    from .protocol import KL_KEY, REWARDS_KEY

    last_round = max(train_metrics)
    metrics = train_metrics[last_round]
    parts = []
    if REWARDS_KEY in metrics:
        parts.append(f"mean rewards: {[round(float(v), 4) for v in metrics[REWARDS_KEY]]}")
    if KL_KEY in metrics:
        parts.append(f"KL: {float(metrics[KL_KEY]):.4e}")
    return [f"  round {last_round}: " + "   ".join(parts)] if parts else []
