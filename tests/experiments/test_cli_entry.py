"""The `firm` entry point: help lists every subcommand without importing any backend; a subcommand
whose module cannot be imported fails with a message naming why; packages register commands through
the ``firm.commands`` entry-point group."""

import subprocess
import sys

from click.testing import CliRunner

from firm import cli

HELP_PROBE = """
import sys
from click.testing import CliRunner
from firm.cli import main
result = CliRunner().invoke(main, ["--help"])
assert result.exit_code == 0, result.output
# the registration modules (one (target, help) tuple each, no imports) are all that may load
REGISTRATION = {"backends", "backends.commands", "theory_checks", "theory_checks.command"}
print(sorted(m for m in sys.modules if m.split(".")[0] in {"backends", "theory_checks", "flwr", "torch"} and m not in REGISTRATION))
print(result.output)
"""


def test_help_lists_every_command_and_imports_no_backend():
    out = subprocess.run([sys.executable, "-c", HELP_PROBE], capture_output=True, text=True, check=True).stdout
    loaded, _, help_text = out.partition("\n")
    assert loaded == "[]"
    for name in cli.COMMANDS:
        assert name in help_text


def test_unimportable_command_names_the_reason(monkeypatch):
    monkeypatch.setitem(cli.COMMANDS, "flower", ("backends.no_such_module:flower", "help"))
    result = CliRunner().invoke(cli.main, ["flower", "--rounds", "1"])
    assert result.exit_code != 0
    assert "`firm flower` is unavailable" in result.output and "no_such_module" in result.output


def test_backends_and_theory_checks_register_their_commands_by_entry_point():
    registered = cli.registered_commands()
    assert registered["rlhf"][0] == "backends.rlhf.cli:rlhf"
    assert registered["flower"][0] == "backends.flower.cli:flower"
    assert registered["check-theory"][0] == "theory_checks.cli:check_theory"
    assert set(cli.BUILTIN_COMMANDS) <= set(registered)


def test_a_new_entry_point_becomes_a_command(monkeypatch):
    class FakeEntryPoint:
        name = "hello"

        def load(self):
            return ("firm.experiments.cli:run", "say hello")

    monkeypatch.setattr(cli, "entry_points", lambda group: [FakeEntryPoint()] if group == cli.COMMAND_GROUP else [])
    assert cli.registered_commands()["hello"] == ("firm.experiments.cli:run", "say hello")
