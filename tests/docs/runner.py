"""Run the code of a Markdown page the way a reader would, top to bottom.

- ```python blocks run in order in one namespace (one per page), in a fresh working directory;
- a block right after a line ``<!-- save-as: NAME -->`` is written to NAME in that directory instead
  (a file the reader is told to save: a problem module, a config);
- a ```bash block right after ``<!-- run -->`` runs each of its lines with bash; a line starting with
  ``firm `` runs the CLI of this checkout (``python -m firm.cli``).
Other blocks (```text output, ```toml shown but not saved, plain ```bash) are left alone.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_FENCE = re.compile(r"^```(\w*)\s*$")
_DIRECTIVE = re.compile(r"^<!--\s*(save-as|run)\s*:?\s*(\S*)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    lang: str
    code: str
    line: int  # 1-based line of the opening fence
    directive: tuple[str, str] | None  # ("save-as", name) or ("run", "")


def blocks(text: str) -> list[Block]:
    """Fenced code blocks of a Markdown text, with the directive on the line before each (if any)."""
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        prev = lines[i - 1].strip() if i else ""
        d = _DIRECTIVE.match(prev)
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        out.append(Block(m.group(1), "\n".join(lines[i + 1:j]) + "\n", i + 1, (d.group(1), d.group(2)) if d else None))
        i = j + 1
    return out


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env.setdefault("MPLBACKEND", "Agg")
    return env


def run_page(page: Path, workdir: Path) -> int:
    """Run every runnable block of ``page`` in ``workdir``; return how many ran. Failures raise with
    the page and line of the block."""
    page, workdir = Path(page).resolve(), Path(workdir).resolve()
    namespace = {"__name__": f"docs_{page.stem}"}
    ran = 0
    old_cwd, old_path = os.getcwd(), list(sys.path)
    os.chdir(workdir)
    sys.path.insert(0, str(workdir))
    try:
        for block in blocks(page.read_text(encoding="utf-8")):
            where = f"{page.name}:{block.line}"
            if block.directive and block.directive[0] == "save-as":
                (workdir / block.directive[1]).write_text(block.code, encoding="utf-8")
            elif block.lang == "python":
                try:
                    exec(compile(block.code, where, "exec"), namespace)  # noqa: S102 - the page's own code
                except Exception as exc:
                    raise AssertionError(f"{where}: the block raised {type(exc).__name__}: {exc}") from exc
                ran += 1
            elif block.lang == "bash" and block.directive and block.directive[0] == "run":
                for line in filter(None, (ln.strip() for ln in block.code.splitlines())):
                    cmd = f"{sys.executable} -m firm.cli {line[5:]}" if line.startswith("firm ") else line
                    out = subprocess.run(["bash", "-c", cmd], cwd=workdir, env=_env(), capture_output=True,
                                         text=True, timeout=600)
                    if out.returncode != 0:
                        raise AssertionError(f"{where}: `{line}` exited {out.returncode}:\n{out.stdout}\n{out.stderr}")
                ran += 1
    finally:
        os.chdir(old_cwd)
        sys.path[:] = old_path
        for name in [n for n, m in sys.modules.items() if getattr(m, "__file__", None)
                     and str(workdir) in str(getattr(m, "__file__", ""))]:
            del sys.modules[name]
    return ran
