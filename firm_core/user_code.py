"""Running a user's Python file as a module: one loader for every plug-in given as ``path/to/file.py:name``
(problem factories, reward functions).

A file is run once per modification: the module is cached by absolute path and modification time, and
registered in ``sys.modules`` under ``<prefix>_<stem>_<digest of the path>`` so that pickling and
dataclasses defined in it work.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

#: Files already run: absolute path -> (modification time, module).
_FILE_MODULES: dict[str, tuple[int, ModuleType]] = {}


def run_python_file(path, *, prefix: str, what: str) -> ModuleType:
    """The module of the Python file ``path`` (run again only when the file changed). ValueError naming
    ``what`` (for instance "problem factory 'f.py:make'") when the file is missing, is not Python, or raises."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ValueError(f"{what}: file {str(path)!r} not found")
    mtime = path.stat().st_mtime_ns
    cached = _FILE_MODULES.get(str(path))
    if cached is not None and cached[0] == mtime:
        return cached[1]
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    name = f"{prefix}_{path.stem}_{digest}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ValueError(f"{what}: cannot load {str(path)!r} as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise ValueError(f"{what}: running {str(path)!r} raised {type(exc).__name__}: {exc}") from exc
    _FILE_MODULES[str(path)] = (mtime, module)
    return module
