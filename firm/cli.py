"""The ``firm`` command line. Each subcommand lives next to the code it drives and is imported only
when it is invoked (``firm --help`` imports none of them), so optional extras (torch, flwr) are needed
only by the commands that use them.

The application's own commands are listed here; other packages (the backends, the theory checks)
contribute theirs through the ``firm.commands`` entry-point group: each entry point names a
``(target "module:attribute" of a click.Command, one-line help)`` pair in a module that is cheap to
import, so the listing stays static.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

import click

#: The application's own commands: name -> ("module:attribute" of a click.Command, one-line help).
BUILTIN_COMMANDS = {
    "run": ("firm.experiments.cli:run", "Run FIRM against the baselines (default: the embedded experiment)."),
    "report": ("firm.report.cli:report", "Measure FIRM's claims against every baseline: report.md with verdicts."),
    "sweep": ("firm.experiments.cli:sweep", "Preference sweep: final points on the Pareto front, HV and IGD."),
}

#: Entry-point group through which other packages register commands.
COMMAND_GROUP = "firm.commands"


def registered_commands() -> dict[str, tuple[str, str]]:
    """Built-in commands plus those registered in the ``firm.commands`` entry-point group."""
    commands = dict(BUILTIN_COMMANDS)
    for ep in entry_points(group=COMMAND_GROUP):
        target, help_line = ep.load()
        commands.setdefault(ep.name, (target, help_line))
    return commands


COMMANDS = registered_commands()


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
