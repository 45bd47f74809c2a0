"""The ``firm check-theory`` subcommand, registered in the ``firm.commands`` entry-point group
(``(target, one-line help)``; importing this module loads nothing)."""

COMMAND = ("theory_checks.cli:check_theory", "Check the convergence bounds on toy problems or your own (--problem FILE); report.")
