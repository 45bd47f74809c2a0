"""Spec job of the "rlhf" backend (``registry``): check and build the task spec (``settings``), and
read / write it as the flat run-config keys model.* / task.* / trainer.* (``run_config``)."""

from __future__ import annotations

from .run_config import problem_from_run_config, problem_to_run_config
from .settings import build_problem, check_spec

__all__ = ["build_problem", "check_spec", "problem_from_run_config", "problem_to_run_config"]
