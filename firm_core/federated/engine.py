"""Run one federated algorithm on a problem for T rounds, with metrics, checkpoints and exact resume.

    history = run(problem, AlgorithmConfig(name="firm", beta=1.0), RunConfig(rounds=100))

Checkpoints (every ``checkpoint_every`` rounds and at the end, when ``checkpoint_dir`` is given) are
written by :mod:`.checkpoint`: all-or-nothing, with the history appended rather than rewritten. The
folder is created and checked for writing before round 0. ``run(..., resume_from=dir)`` continues from a
checkpoint; because all randomness derives from (seed, round, client), the resumed run's records and
iterates are identical, bit for bit, to an uninterrupted run (wall times aside).

How a run ends (``history.status``): "completed"; "diverged" when the new iterate x_{t+1} has a non-finite
entry, the evaluated objectives F(x_t) are not finite, or a round raises a numerical error (FloatingPointError, OverflowError, ZeroDivisionError,
numpy.linalg.LinAlgError): the run stops there and returns the history so far with a message;
"interrupted" on Ctrl-C: :class:`RunInterrupted` (a KeyboardInterrupt) carries the history and the last
completed round's state, and with ``checkpoint_on_interrupt=True`` that state is checkpointed first.
Any other exception propagates with a note naming the round.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from .._version import __version__
from .algorithms import FederatedState, make_algorithm
from .checkpoint import CheckpointError, load_checkpoint, prepare_checkpoint_dir, save_checkpoint
from .config import AlgorithmConfig, RunConfig
from .history import History, RoundRecord
from .metrics import evaluate_point

#: Called after every round with (the round's record, the run's total rounds); the application layer
#: turns it into a progress bar. The core draws nothing itself.
ProgressHook = Callable[[RoundRecord, int], None]

#: Exceptions from a round that mean the iteration has blown up numerically (the run stops as "diverged").
NUMERICAL_ERRORS = (FloatingPointError, OverflowError, ZeroDivisionError, np.linalg.LinAlgError)

__all__ = ["NUMERICAL_ERRORS", "ProgressHook", "RunInterrupted", "load_checkpoint", "run", "run_many",
           "save_checkpoint"]


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`run`. ``history``: the records of the completed rounds (status "interrupted");
    ``state``: the state after the last completed round; ``checkpoint_round``: the round checkpointed on
    the way out (None when none was written)."""

    def __init__(self, history: History, state: FederatedState, checkpoint_round: int | None):
        super().__init__(history.message)
        self.history, self.state, self.checkpoint_round = history, state, checkpoint_round


def _check_progress(progress, where: str) -> ProgressHook | None:
    if progress is None or progress is False:
        return None
    if progress is True:
        raise TypeError(
            f"{where}: `progress` must be a callable hook(record, total_rounds) or None, got True "
            "(the core draws no progress bar; the `firm` application passes one)"
        )
    if not callable(progress):
        raise TypeError(f"{where}: `progress` must be a callable hook(record, total_rounds) or None, got {progress!r}")
    return progress


def run(
    problem,
    algorithm_config: AlgorithmConfig,
    run_config: RunConfig | None = None,
    *,
    x0=None,
    progress: ProgressHook | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    resume_from: str | os.PathLike | None = None,
    checkpoint_on_interrupt: bool = False,
) -> History:
    """Run ``algorithm_config`` on ``problem`` for ``run_config.rounds`` rounds; return the History.

    Record t holds phi, F and dist_pareto of x_t (the round's start) and the round's D_lambda, D_x,
    communication and wall time; ``history.final_point`` holds the metrics of x_T and x_T itself.
    ``progress``: None, or a hook called after every round with (record, total rounds).
    ``resume_from``: a checkpoint folder written by an earlier run of the same algorithm config and
    problem; the run continues from its round up to ``run_config.rounds``.
    ``checkpoint_on_interrupt``: on Ctrl-C, checkpoint the last completed round before raising.
    See the module docstring for how a run ends (``history.status``).
    """
    if not isinstance(algorithm_config, AlgorithmConfig):
        raise TypeError(f"run: `algorithm_config` must be an AlgorithmConfig, got {type(algorithm_config).__name__}")
    run_config = RunConfig() if run_config is None else run_config
    if not isinstance(run_config, RunConfig):
        raise TypeError(f"run: `run_config` must be a RunConfig, got {type(run_config).__name__}")
    loop = _RoundLoop(problem, algorithm_config, run_config, _check_progress(progress, "run"), checkpoint_dir)
    state, history = loop.start(x0, resume_from)
    try:
        state = loop.rounds(state, history)
        _finish(problem, state, history)
        loop.save(state, history)
    except KeyboardInterrupt as exc:
        state = loop.state
        del history.records[state.round:]  # a record appended just before the interrupt hit
        if history.status != "diverged":  # a divergence found before the interrupt stays the run's outcome
            history.set_status("interrupted", f"interrupted by the user after {state.round} of {run_config.rounds} "
                                              "rounds")
        saved = loop.save(state, history) if checkpoint_on_interrupt else None
        raise RunInterrupted(history, state, saved) from exc
    except Exception as exc:
        exc.add_note(f"run: the run failed after {loop.state.round} completed rounds; they are kept only in its "
                     "checkpoints, if any")
        raise
    return history


class _RoundLoop:
    """The round loop of :func:`run`, keeping the last completed state for an interrupt handler."""

    def __init__(self, problem, config: AlgorithmConfig, run_config: RunConfig, hook, checkpoint_dir):
        self.problem, self.config, self.run_config, self.hook = problem, config, run_config, hook
        self.algo = make_algorithm(config)
        self.checkpoint_dir = None if checkpoint_dir is None else prepare_checkpoint_dir(checkpoint_dir)
        self.fresh = True  # the first save of a fresh run starts a new history log
        self.state: FederatedState | None = None

    def start(self, x0, resume_from) -> tuple[FederatedState, History]:
        metadata = {
            "algorithm": self.config.name, "display_name": self.config.display_name,
            "config": self.config.to_dict(), "run_config": self.run_config.to_dict(),
            "problem": self.problem.describe(), "seed": self.config.seed, "firm_version": _firm_version(),
        }
        if resume_from is None:
            self.state = self.algo.init(self.problem, x0)
            return self.state, History(metadata=metadata, status="running")
        if x0 is not None:
            raise ValueError("run: pass either `x0` or `resume_from`, not both (the checkpoint holds x_t)")
        state, history = load_checkpoint(resume_from, self.config, self.problem)
        self.config.check_problem(self.problem)
        if history.status == "diverged":
            raise CheckpointError(f"run: the checkpoint in {str(resume_from)!r} is of a run that diverged "
                                  f"({history.message}); resuming would repeat it: start a new run with a smaller "
                                  "`lr` or `server_lr`")
        if state.round > self.run_config.rounds:
            raise ValueError(f"run: `run_config.rounds` ({self.run_config.rounds}) is below the checkpoint's "
                             f"round {state.round}")
        history.metadata.update(metadata)
        history.final_point = None
        history.set_status("running")
        self.fresh = False
        self.state = state
        return state, history

    def rounds(self, state: FederatedState, history: History) -> FederatedState:
        """Rounds state.round .. T-1; stops early (status "diverged") on a non-finite iterate or a
        numerical error. ``self.state`` always holds the last completed round's state."""
        total, every = self.run_config.rounds, self.run_config.checkpoint_every
        while state.round < total:
            t = state.round
            # a ClientTask may turn evaluation off (``evaluates = False``): no round is then evaluated
            evaluate = t % self.run_config.eval_every == 0 and getattr(self.problem, "evaluates", True)
            try:
                new_state, record = self.algo.round(self.problem, state, evaluate=evaluate)
            except NUMERICAL_ERRORS as exc:
                history.set_status("diverged", f"round {t} raised {type(exc).__name__}: {exc} "
                                               f"(max |x_t| = {np.max(np.abs(state.x)):.3g}); {self._advice()}")
                return state
            history.append(record)
            self.state = state = new_state
            if self.hook is not None:
                self.hook(record, total)
            if not np.all(np.isfinite(state.x)):
                history.set_status("diverged", f"x_{t + 1} has non-finite entries after round {t}; {self._advice()}")
                return state
            if evaluate and not np.all(np.isfinite(record.objectives)):
                history.set_status("diverged", f"F(x_{t}) = {list(record.objectives)} is not finite in round {t}; "
                                               f"{self._advice()}")
                return state
            if every is not None and state.round % every == 0 and state.round < total:
                self.save(state, history)
        history.set_status("completed")
        return state

    def _advice(self) -> str:
        c = self.config
        return f"the run stopped there (lr = {c.lr:g}, server_lr = {c.server_lr:g}): lower `lr` or `server_lr`"

    def save(self, state: FederatedState, history: History) -> int | None:
        if self.checkpoint_dir is None:
            return None
        save_checkpoint(self.checkpoint_dir, state, history, self.config, self.run_config, fresh=self.fresh)
        self.fresh = False
        return int(state.round)


def _finish(problem, state: FederatedState, history: History) -> None:
    """Set ``history.final_point``: the metrics of x_T (NaN when x_T is not finite or cannot be evaluated)."""
    m = int(problem.num_objectives)
    final = None
    if np.all(np.isfinite(state.x)):
        try:
            final = evaluate_point(problem, state.x)
        except Exception:  # noqa: BLE001 - only after a divergence; a healthy run re-raises below
            if history.status != "diverged":
                raise
    if final is None:
        final = {"phi": float("nan"), "objectives": [float("nan")] * m, "dist_pareto": None}
    history.final_point = {
        "round": int(state.round),
        "phi": final["phi"],
        "objectives": [float(v) for v in final["objectives"]],
        "dist_pareto": final["dist_pareto"],
        "x": [float(v) for v in state.x],
    }


def _firm_version() -> str:
    return __version__


def run_many(problem, algorithm_configs, run_config: RunConfig | None = None, *, x0=None,
             progress: ProgressHook | None = None):
    """Run several algorithm configs from the same x_0; {display_name: History} in the given order.
    Display names must be distinct (set ``label`` to tell two configs of one algorithm apart)."""
    configs = list(algorithm_configs)
    names = [c.display_name for c in configs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"run_many: `algorithm_configs` have duplicate display names {dupes}; set `label`")
    out = {}
    for cfg in configs:
        out[cfg.display_name] = run(problem, cfg, run_config, x0=x0, progress=progress)
    return out
