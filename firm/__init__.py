"""firm: the application around the ``firm_core`` library: the ``firm`` command line, the experiment
runner, configuration files, plots, sweeps and reports.

Commands contributed by other packages (the backends, the theory checks) register themselves through
the ``firm.commands`` entry-point group (see :mod:`firm.cli`).
"""

from firm_core import __version__

__all__ = ["__version__"]
