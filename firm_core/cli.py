"""The ``firm`` command line. Each subcommand lives next to the code it drives and is imported only
when it is invoked (``firm --help`` imports none of them), so optional extras (torch, flwr) are needed
only by the commands that use them.
"""

from __future__ import annotations

import importlib

import click

#: subcommand name -> ("module:attribute" of a click.Command, one-line help shown by ``firm --help``)
COMMANDS = {
    "run": ("firm_core.experiments.cli:run", "Run FIRM against the baselines (default: the embedded experiment)."),
    "sweep": ("firm_core.experiments.cli:sweep", "Preference sweep: final points on the Pareto front, HV and IGD."),
    "check-theory": ("theory_checks.cli:check_theory", "Check the convergence bounds on toy problems; report."),
    "rlhf": ("backends.rlhf.cli:rlhf", "Federated multi-objective LoRA RLHF (extra [torch])."),
    "flower": ("backends.flower.cli:flower", "Run FIRM on Flower: simulation or in-process (extra [flower])."),
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use; their help line is static."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def format_commands(self, ctx, formatter):
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name][0].split(":")
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:  # a missing optional extra: say which, don't crash with a traceback
            reason = str(exc)

            @click.command(name=name, help=f"(unavailable: {reason})", context_settings={"ignore_unknown_options": True})
            @click.argument("args", nargs=-1, type=click.UNPROCESSED)
            def unavailable(args):
                raise click.ClickException(f"`firm {name}` is unavailable: {reason}")

            return unavailable
        return getattr(mod, attr)


@click.group(cls=LazyGroup)
@click.version_option(package_name="firm")
def main():
    """firm: federated multi-objective learning with FIRM (regularized in-client MGDA)."""


if __name__ == "__main__":  # pragma: no cover
    main()
