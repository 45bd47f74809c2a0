"""The FIRM ServerApp, and :func:`run_strategy`, which drives FirmStrategy on any Flower Grid.

``app`` reads :class:`~backends.flower.settings.FlowerSettings` from the run config (the app's
``[tool.flwr.app.config]``, overridable with ``flwr run --run-config``); :func:`make_server_app`
builds a ServerApp around given settings (for ``run_simulation``, which passes no run config).
"""

from __future__ import annotations

from dataclasses import dataclass
from logging import INFO
from pathlib import Path

from firm_core.federated.history import History
from flwr.app import Context
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import Result
from flwr.supercore import log

from .privacy import wrap_privacy
from .registry import load_job
from .settings import FlowerSettings
from .strategy import FirmStrategy


@dataclass
class FlowerRun:
    """Outcome of :func:`run_strategy`: the engine-format History, the FIRM strategy (its traffic
    counters and node map), and Flower's own Result."""

    history: History
    strategy: FirmStrategy
    result: Result


def make_strategy(settings: FlowerSettings, problem=None) -> FirmStrategy:
    """The strategy of ``settings.backend`` (the registry's ``strategy`` job: FirmStrategy for "numpy",
    the LoRA ``AdapterStrategy`` for "rlhf")."""
    strategy = load_job(settings.backend, "strategy").make_strategy(settings, problem)
    if not isinstance(strategy, FirmStrategy):
        raise TypeError(f"backend {settings.backend!r}: make_strategy must return a FirmStrategy, "
                        f"got {type(strategy).__name__}")
    return strategy


def run_strategy(grid: Grid, settings: FlowerSettings, problem=None, *, x0=None) -> FlowerRun:
    """Run ``settings.rounds`` FIRM rounds on ``grid`` (resuming from ``settings.resume_from`` when set),
    with the DP wrapper ``settings.dp`` asks for; write ``settings.out_dir`` outputs; return the run."""
    firm = make_strategy(settings, problem)
    if settings.resume_from:
        if x0 is not None:
            raise ValueError("run_strategy: pass either `x0` or settings.resume_from, not both")
        arrays = firm.resume(settings.resume_from)
    else:
        arrays = firm.initial_arrays(x0)
    num_sampled = settings.algorithm.participation or firm.expect.num_clients
    outer = wrap_privacy(firm, settings.dp, num_sampled)
    result = outer.start(
        grid,
        arrays,
        num_rounds=firm.remaining_rounds,
        timeout=settings.timeout,
        evaluate_fn=firm.evaluate_global,
    )
    history = firm.finish()
    if settings.out_dir:
        out = Path(settings.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        history.to_json(out / "history.json")
        history.to_csv(out / "history.csv")
        log(INFO, "FIRM: wrote %s", out / "history.json")
    final = history.final()
    log(INFO, "FIRM finished: round %s, phi %.3e, dropped clients %d", final.get("round"), final.get("phi", float("nan")),
        final.get("dropped_clients", 0))
    return FlowerRun(history, firm, result)


def make_server_app(settings: FlowerSettings, problem=None, *, on_done=None) -> ServerApp:
    """A ServerApp that runs :func:`run_strategy` with ``settings`` (ignoring the run config);
    ``on_done(FlowerRun)`` is called with the outcome (e.g. to keep it in the caller's process)."""
    server_app = ServerApp()

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        run = run_strategy(grid, settings, problem)
        if on_done is not None:
            on_done(run)

    return server_app


#: The ServerApp the Flower app points to (``[tool.flwr.app.components] serverapp``).
app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Settings from the run config, then :func:`run_strategy`."""
    settings = FlowerSettings.from_run_config(context.run_config)
    run_strategy(grid, settings)
