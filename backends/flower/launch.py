"""Run the FIRM Flower App with ``flwr run`` against a SuperLink this module starts and stops.

``flwr run`` alone starts a *detached* local SuperLink on fixed ports and leaves it running, exits 0
even when the ServerApp failed, and (offline) must be told not to install dependencies. This module
does it the controlled way, on loopback only:

1. a private ``FLWR_HOME`` (temp dir) whose ``config.toml`` names one connection, "firm", at
   127.0.0.1:PORT (a free port);
2. ``flower-superlink --insecure --simulation --host 127.0.0.1 --port PORT`` in its own process
   group (``--simulation``: the SuperLink runs the ClientApps in Flower's Ray simulation engine);
3. ``flwr run APP firm --run-config ... --federation-config "num-supernodes=N ..." --format json``
   with ``FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION=1``;
4. poll ``flwr ls firm --run-id ID --format json`` until the status is ``finished:*``; success is
   ``finished:completed`` (the exit code of ``flwr run`` says nothing about the run);
5. stop the SuperLink's whole process group (SIGTERM, then SIGKILL) whatever happened, and delete
   the temp ``FLWR_HOME`` it made (the SuperLink log, next to it, stays).

``scripts/flower_deploy.sh`` does the same with a non-simulation SuperLink plus N SuperNodes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

#: The app folder (its pyproject declares the components and the default run config).
APP_DIR = Path(__file__).resolve().parent / "app"
#: The app folder of each backend: "numpy" (quadratics, problem.* keys) and "rlhf" (LoRA RLHF, the task's
#: model.* / task.* / trainer.* keys).
APP_DIRS = {"numpy": APP_DIR, "rlhf": Path(__file__).resolve().parent / "app_rlhf"}
LOOPBACK = "127.0.0.1"
CONNECTION = "firm"
#: Seconds to wait for the SuperLink's /health endpoint.
SUPERLINK_START_TIMEOUT = 60.0
POLL_INTERVAL = 1.0
#: Environment every Flower process started here gets (offline, quiet, no telemetry).
FLOWER_ENV = {
    "FLWR_TELEMETRY_ENABLED": "0",
    "FLWR_DISABLE_UPDATE_CHECK": "1",
    "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
}


@dataclass(frozen=True)
class RunOutcome:
    """What ``flwr ls`` reported for the run, plus where the logs are."""

    run_id: str
    status: str
    details: str
    elapsed: float
    superlink_log: Path

    @property
    def ok(self) -> bool:
        return self.status == "finished:completed"


def free_loopback_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def _bin(name: str) -> str:
    """The Flower executable next to this interpreter (the venv's), else on PATH."""
    local = Path(sys.executable).with_name(name)
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"`{name}` not found next to {sys.executable} or on PATH: install the [flower] extra")
    return found


def _format_config(config: Mapping[str, object]) -> str:
    """"k1=v1 k2='s'" for ``--run-config`` / ``--federation-config`` (strings quoted, TOML style)."""
    parts = []
    for key, value in config.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):
            text = json.dumps(value)
        else:
            text = repr(value)
        parts.append(f"{key}={text}")
    return " ".join(parts)


def _health(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/health", timeout=0.5) as resp:  # noqa: S310 - loopback
            return resp.status == 200
    except OSError:
        return False


def _descendants(pid: int) -> list:
    """psutil handles of every descendant of ``pid`` (empty when psutil is not installed)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with most Flower installs
        return []
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def stop_process_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """Stop what ``proc`` started: SIGTERM its process group (it was started with a new session),
    SIGKILL after ``grace`` seconds; then any of its descendants that left the group (e.g. Ray
    workers in their own session) are terminated by pid. Nothing else is touched."""
    children = _descendants(proc.pid)
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=grace)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=grace)
    for child in children:
        try:
            if child.is_running():
                child.terminate()
                child.wait(timeout=grace)
        except Exception:  # already gone, or refused: psutil raises several kinds
            try:
                child.kill()
            except Exception:
                pass


def stop_marked_processes(home: Path, grace: float = 10.0) -> None:
    """Terminate (SIGKILL after ``grace`` seconds) the live processes whose environment holds FLWR_HOME =
    ``home``: what this run started and that left the SuperLink's process tree (Ray's ClientApp actors
    are re-parented when their raylet stops, and would otherwise linger until they notice). Every
    process a run starts inherits that FLWR_HOME; nothing else carries it."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with most Flower installs
        return
    marker, me = f"{home}", os.getpid()
    marked = []
    for proc in psutil.process_iter():
        try:
            if proc.pid != me and proc.environ().get("FLWR_HOME") == marker:
                marked.append(proc)
        except psutil.Error:  # gone, or not ours to read
            continue
    for proc in marked:
        try:
            proc.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(marked, timeout=grace)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=grace)


def write_flower_home(home: Path, port: int) -> None:
    """``config.toml`` with the single connection "firm" at 127.0.0.1:port (insecure, loopback)."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "{CONNECTION}"\n\n[superlink.{CONNECTION}]\n'
        f'address = "{LOOPBACK}:{port}"\ninsecure = true\n',
        encoding="utf-8",
    )


def flower_env(home: Path) -> dict:
    """This process's environment plus FLOWER_ENV, FLWR_HOME = ``home``, and the Flower executables'
    folder first on PATH (the SuperLink starts ``flower-superexec`` by name)."""
    bindir = str(Path(_bin("flower-superlink")).parent)
    return {**os.environ, **FLOWER_ENV, "FLWR_HOME": str(home), "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}


def _flwr(args: list[str], env: dict, timeout: float) -> dict:
    out = subprocess.run([_bin("flwr"), *args, "--format", "json"], env=env, capture_output=True, text=True, timeout=timeout)
    try:
        return json.loads(out.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"`flwr {' '.join(args)}` printed no JSON (exit {out.returncode}): {out.stdout[-2000:]} {out.stderr[-2000:]}") from None


def run_app(
    *,
    num_supernodes: int,
    run_config: Mapping[str, object] | None = None,
    app_dir: Path = APP_DIR,
    timeout: float = 300.0,
    cpus_per_client: int = 1,
    work_dir: Path | None = None,
    progress: bool = False,
    simulation: bool = True,
) -> RunOutcome:
    """Run the app in Flower's simulation engine via ``flwr run`` (see the module docstring).
    ``work_dir``: the FLWR_HOME to use, kept afterwards (default: ``flwr-home`` in a fresh temp dir,
    removed on return; only the SuperLink log named in the outcome stays there); ``progress``: a tqdm status bar;
    ``simulation=False`` starts a plain SuperLink instead (no ClientApps run unless SuperNodes
    connect to it: ``scripts/flower_deploy.sh`` starts them; on its own this only exercises the
    ServerApp, e.g. to see a failing run reported by ``flwr ls``)."""
    if isinstance(num_supernodes, bool) or not isinstance(num_supernodes, int) or num_supernodes < 1:
        raise ValueError(f"run_app: `num_supernodes` must be an integer >= 1, got {num_supernodes!r}")
    own_tmp = work_dir is None
    root = Path(tempfile.mkdtemp(prefix="firm-flwr-")) if own_tmp else Path(work_dir)
    home = root / "flwr-home" if own_tmp else root
    port = free_loopback_port()
    write_flower_home(home, port)
    env = flower_env(home)
    log_path = root / "superlink.log"
    with open(log_path, "w", encoding="utf-8") as log:
        superlink = subprocess.Popen(
            [_bin("flower-superlink"), "--insecure", *(["--simulation"] if simulation else []), "--host", LOOPBACK,
             "--port", str(port), "--database", str(home / "state.db")],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + SUPERLINK_START_TIMEOUT
        while not _health(port):
            if superlink.poll() is not None:
                raise RuntimeError(f"flower-superlink exited with {superlink.returncode}; see {log_path}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"flower-superlink did not become healthy within {SUPERLINK_START_TIMEOUT} s; see {log_path}")
            time.sleep(0.2)
        args = ["run", str(app_dir), CONNECTION]
        if simulation:
            federation = {"num-supernodes": num_supernodes, "client-resources-num-cpus": cpus_per_client}
            args += ["--federation-config", _format_config(federation)]
        if run_config:
            args += ["--run-config", _format_config(run_config)]
        started = _flwr(args, env, timeout=120)
        if not started.get("success"):
            raise RuntimeError(f"flwr run failed to start the run: {started}")
        run_id = str(started["run-id"])
        deadline = time.monotonic() + timeout
        bar = tqdm(desc=f"flower run {run_id[:8]}", unit="poll", disable=not progress, leave=False)
        while True:
            listing = _flwr(["ls", CONNECTION, "--run-id", run_id], env, timeout=60)
            runs = listing.get("runs") or []
            status = runs[0]["status"] if runs else "unknown"
            bar.set_postfix(status=status)
            bar.update(1)
            if status.startswith("finished"):
                bar.close()
                info = runs[0]
                return RunOutcome(run_id, status, info.get("status-details", ""), float(info.get("elapsed", 0.0)), log_path)
            if time.monotonic() > deadline:
                bar.close()
                return RunOutcome(run_id, f"timeout:{status}", f"not finished after {timeout} s", timeout, log_path)
            time.sleep(POLL_INTERVAL)
    finally:
        stop_process_group(superlink)
        stop_marked_processes(home)
        if own_tmp:  # Flower's state database, apps and sources (MBs per run); the log stays
            shutil.rmtree(home, ignore_errors=True)
