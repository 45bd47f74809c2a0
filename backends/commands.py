"""The ``firm`` subcommands the backends contribute (registered in the ``firm.commands`` entry-point
group). Each is ``(target "module:attribute" of a click.Command, one-line help)``; this module imports
nothing, so ``firm --help`` loads no backend."""

RLHF = ("backends.rlhf.cli:rlhf", "Federated multi-objective LoRA RLHF (extra [torch]).")
FLOWER = ("backends.flower.cli:flower", "Run FIRM on Flower: simulation or in-process (extra [flower]).")
