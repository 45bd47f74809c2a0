"""The ``firm`` command line. Each subcommand lives next to the code it drives and is imported
lazily, so ``firm --help`` stays fast and optional extras are only needed by the commands using them.
"""

from __future__ import annotations

import importlib

import click

#: subcommand name -> "module:attribute" of a click.Command
COMMANDS = {
    "run": "firm_core.experiments.cli:run",
    "sweep": "firm_core.experiments.cli:sweep",
    "check-theory": "theory_checks.cli:check_theory",
    "rlhf": "backends.rlhf.cli:rlhf",
    "flower": "backends.flower.cli:flower",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            reason = str(exc)

            @click.command(name=name, help=f"(unavailable: {reason})")
            def unavailable():
                raise click.ClickException(f"`firm {name}` is unavailable: {reason}")

            return unavailable


@click.group(cls=LazyGroup)
@click.version_option(package_name="firm")
def main():
    """firm: federated multi-objective learning with FIRM (regularized in-client MGDA)."""


if __name__ == "__main__":  # pragma: no cover
    main()
