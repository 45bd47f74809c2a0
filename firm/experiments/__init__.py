"""Experiments: validated configs, the ``firm run`` / ``firm sweep`` commands, summary tables and plots.

    from firm.experiments import load_config, run_experiment, run_sweep
    cfg = load_config("examples/configs/default.toml")      # or load_config() for the embedded default
    result = run_experiment(cfg, out_dir="runs/default")

Importing this package is cheap; matplotlib loads only when a plot is drawn.
"""

from .config import ConfigError, ExperimentConfig, load_config, read_config_file, validate_config
from .defaults import DEFAULT_EXPERIMENT

__all__ = [
    "DEFAULT_EXPERIMENT",
    "ConfigError",
    "ExperimentConfig",
    "load_config",
    "read_config_file",
    "run_experiment",
    "run_sweep",
    "validate_config",
]


def __getattr__(name):
    if name == "run_experiment":
        from .runner import run_experiment

        return run_experiment
    if name == "run_sweep":
        from .sweep import run_sweep

        return run_sweep
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
