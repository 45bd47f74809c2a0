"""The `firm` entry point: help lists every subcommand without importing any backend; a subcommand
whose module cannot be imported fails with a message naming why."""

import subprocess
import sys

from click.testing import CliRunner

from firm_core import cli

HELP_PROBE = """
import sys
from click.testing import CliRunner
from firm_core.cli import main
result = CliRunner().invoke(main, ["--help"])
assert result.exit_code == 0, result.output
print(sorted(m for m in sys.modules if m.split(".")[0] in {"backends", "theory_checks", "flwr", "torch"}))
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
