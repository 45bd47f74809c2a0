"""Execute a notebook with nbclient (repo root as its working folder) and read the JSON summary it prints.

Each tour's last code cell prints one JSON object (``print(json.dumps(summary))``); :func:`read_summary`
parses it from the executed outputs. To refresh a tour saved with outputs::

    .venv/bin/python -m tests.notebooks._run notebooks/solvers_tour.ipynb notebooks/federated_tour.ipynb
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
KERNEL = "python3"
#: Seconds any one cell may run before nbclient aborts the notebook.
CELL_TIMEOUT_S = 30


def ensure_kernel() -> None:
    """Install the venv's ``python3`` kernel spec into the venv prefix when none is found (fresh clone / CI)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL], check=True)


def execute(path, *, cell_timeout: float = CELL_TIMEOUT_S):
    """Run every cell of the notebook at ``path`` in a fresh kernel; return (notebook, seconds).
    A failing cell raises nbclient's CellExecutionError; a cell over ``cell_timeout`` raises a timeout."""
    from nbclient import NotebookClient

    ensure_kernel()
    nb = nbformat.read(path, as_version=4)
    os.environ.setdefault("MPLBACKEND", "Agg")  # the tours select %matplotlib inline themselves
    start = time.perf_counter()
    NotebookClient(nb, timeout=cell_timeout, kernel_name=KERNEL, resources={"metadata": {"path": str(ROOT)}}).execute()
    return nb, time.perf_counter() - start


def stdout_of(cell) -> str:
    """Concatenated stdout stream text of one code cell."""
    return "".join(o.get("text", "") for o in cell.get("outputs", ()) if o.get("output_type") == "stream"
                   and o.get("name") == "stdout")


def read_summary(nb) -> dict:
    """The JSON object printed by the notebook's last code cell; ValueError when there is none."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code:
        raise ValueError("read_summary: the notebook has no code cell")
    text = stdout_of(code[-1]).strip()
    try:
        data = json.loads(text.splitlines()[-1]) if text else None
    except json.JSONDecodeError as exc:
        raise ValueError(f"read_summary: the last code cell's output is not JSON: {text[:200]!r}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"read_summary: the last code cell must print a JSON object, got {text[:200]!r}")
    return data


def main(paths) -> None:
    """Execute each notebook and save it in place, with its outputs."""
    for path in paths:
        nb, seconds = execute(path)
        nbformat.write(nb, path)
        print(f"{path}: executed in {seconds:.1f} s, saved with outputs")


if __name__ == "__main__":
    main(sys.argv[1:])
