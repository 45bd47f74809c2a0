"""firm_core never imports torch, transformers, peft or flwr (DESIGN section 1): importing every one of
its modules, in a fresh interpreter, leaves them out of sys.modules."""

from __future__ import annotations

import subprocess
import sys

#: Libraries the core must never import (the backends' dependencies).
BACKEND_LIBRARIES = ("torch", "transformers", "peft", "flwr")

#: Imports every firm_core module, then prints the names given on the command line found in sys.modules.
_SCRIPT = """
import importlib, pkgutil, sys
import firm_core
for info in pkgutil.walk_packages(firm_core.__path__, "firm_core."):
    importlib.import_module(info.name)
print(" ".join(name for name in sys.argv[1:] if name in sys.modules))
"""


def modules_loaded_by_firm_core(names) -> list[str]:
    """Which of ``names`` are in sys.modules after importing every firm_core module (fresh interpreter)."""
    out = subprocess.run([sys.executable, "-c", _SCRIPT, *names], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_importing_every_core_module_loads_no_backend_library():
    assert modules_loaded_by_firm_core(BACKEND_LIBRARIES) == []


def test_the_check_reports_a_library_the_core_does_load():
    assert modules_loaded_by_firm_core(("numpy", "torch")) == ["numpy"]
