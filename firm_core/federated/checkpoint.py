"""Crash-safe checkpoints of a federated run: one manifest names the round, the state file and how much
of an append-only history log belongs to the checkpoint.

A checkpoint folder holds::

    manifest.json              the commit point: round, file names, byte count and checksums, configs
    state-r<round>-<tag>.npz   round t, x_t, seed, server lambda (exact float64); a new name per save
    history-<tag>.jsonl        one RoundRecord per line, appended; bytes past the manifest's count are
                               uncommitted (cut off before the next append)

A save writes the state file (temporary name, fsync, rename), appends the records the log lacks (fsync),
then replaces manifest.json the same way and fsyncs the folder; only then are files of earlier saves
removed. An interrupt at any instant therefore leaves either the previous or the new checkpoint whole.
A save costs the new records plus a few small files: it does not grow with the round number.

Loading re-checks everything (checksums of the state file and of every committed log line, record
count, round) and refuses a damaged or foreign checkpoint with a :class:`CheckpointError` that says what
is wrong and what to do. Folders in the earlier two-file layout (state.npz + checkpoint.json) still load.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets
import tempfile
from pathlib import Path

import numpy as np

from .algorithms import FederatedState
from .config import AlgorithmConfig
from .history import History, RoundRecord, json_safe

MANIFEST_FILE = "manifest.json"
FORMAT = "firm-checkpoint"
VERSION = 2
#: Files of the earlier layout (read, and removed once a new checkpoint replaces them).
LEGACY_STATE_FILE = "state.npz"
LEGACY_CHECKPOINT_FILE = "checkpoint.json"
#: Prefix of every temporary file this module (and History's atomic writes) creates.
TMP_PREFIX = ".firm-tmp-"
_STATE_RE = re.compile(r"^state-r\d+-[0-9a-f]+\.npz$")
_LOG_RE = re.compile(r"^history-[0-9a-f]+\.jsonl$")
_CHAIN_SEED = "firm-history"


class CheckpointError(ValueError):
    """A checkpoint folder is missing, damaged, or belongs to another run; the message says what to do."""


# --- small pieces -----------------------------------------------------------------------------------

def _plain(obj):
    """JSON-ready copy that keeps NaN / inf (the checkpoint must round-trip every float exactly)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    return obj


def record_line(record: RoundRecord) -> bytes:
    """One log line: the record's dict as compact JSON (non-finite floats as NaN / Infinity tokens)."""
    return (json.dumps(_plain(record.to_dict()), separators=(",", ":"), allow_nan=True) + "\n").encode("utf-8")


def _chain(previous: str, line: bytes) -> str:
    """Running checksum of the log: c_n = sha256(c_{n-1} || line_n)."""
    return hashlib.sha256(previous.encode("ascii") + line).hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def is_checkpoint_file(name: str) -> bool:
    """True for the names this module writes (so a cleanup never touches anything else)."""
    return (name == MANIFEST_FILE or name.startswith(TMP_PREFIX) or name in (LEGACY_STATE_FILE, LEGACY_CHECKPOINT_FILE)
            or bool(_STATE_RE.match(name)) or bool(_LOG_RE.match(name)))


def prepare_checkpoint_dir(directory) -> Path:
    """Create ``directory`` if needed and prove it writable (a probe file is written, fsynced, removed),
    so a bad folder is refused before any round runs; ValueError names the folder and the reason."""
    path = Path(directory)
    if path.exists() and not path.is_dir():
        raise ValueError(f"checkpoint folder {str(path)!r} is a file, not a folder; choose another `checkpoint_dir`")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=TMP_PREFIX)
        try:
            os.write(fd, b"probe")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"checkpoint folder {str(path)!r} is not writable ({exc.strerror or exc}); "
                         "choose another `checkpoint_dir` or fix its permissions") from None
    return path


def clear_checkpoint(directory) -> list[str]:
    """Remove the checkpoint files of ``directory`` (only names this module writes; the folder too when it
    is left empty). Returns the names of other files, which are kept."""
    path = Path(directory)
    if not path.is_dir():
        return []
    kept = []
    for entry in sorted(path.iterdir()):
        if entry.is_file() and is_checkpoint_file(entry.name):
            entry.unlink()
        else:
            kept.append(entry.name)
    if not kept:
        path.rmdir()
    return kept


# --- saving -----------------------------------------------------------------------------------------

def _read_manifest(path: Path) -> dict | None:
    try:
        with open(path / MANIFEST_FILE, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


#: Metadata that may change when a run is resumed (a longer run, a newer version) without making it another run.
_VOLATILE_METADATA = ("run_config", "firm_version")


def _identity(metadata: dict) -> dict:
    return {k: v for k, v in metadata.items() if k not in _VOLATILE_METADATA}


def _appendable(manifest: dict | None, path: Path, lines_of, metadata: dict, total: int) -> bool:
    """Whether the committed log is a prefix of this history: same metadata, and its last line is the
    history's record n-1 (checked through the running checksum: O(1), not O(n))."""
    if manifest is None or manifest.get("version") != VERSION or not (path / manifest["history_file"]).is_file():
        return False
    n = int(manifest["history_records"])
    if n > total or _identity(manifest.get("metadata") or {}) != _identity(metadata):
        return False
    if n == 0:
        return True
    return _chain(manifest["history_prev_sha256"], lines_of(n - 1)) == manifest["history_sha256"]


def _append_log(path: Path, manifest: dict | None, lines_of, n_new: int, append: bool) -> dict:
    """Append lines [n_old, n_new) to the log (or write a new log); return its manifest fields."""
    if append:
        name, n, size = manifest["history_file"], int(manifest["history_records"]), int(manifest["history_bytes"])
        prev, chain = manifest["history_prev_sha256"], manifest["history_sha256"]
        mode = "r+b"
    else:
        name, n, size, prev, chain, mode = f"history-{secrets.token_hex(6)}.jsonl", 0, 0, "", _CHAIN_SEED, "wb"
    with open(path / name, mode) as fh:
        fh.truncate(size)
        fh.seek(size)
        for i in range(n, n_new):
            line = lines_of(i)
            fh.write(line)
            size += len(line)
            prev, chain = chain, _chain(chain, line)
        fh.flush()
        os.fsync(fh.fileno())
    return {"history_file": name, "history_records": n_new, "history_bytes": size,
            "history_prev_sha256": prev, "history_sha256": chain}


def _state_bytes(state: FederatedState) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, round=np.int64(state.round), x=np.asarray(state.x, dtype=np.float64), seed=np.int64(state.seed),
             server_lambda=np.asarray(state.server_lambda, dtype=np.float64))
    return buf.getvalue()


def save_checkpoint(directory, state: FederatedState, history: History, algorithm_config, run_config, *,
                    fresh: bool = False) -> None:
    """Commit a checkpoint of ``state`` (round t) and the first t records of ``history`` into ``directory``.

    Records already in the folder's log are not written again (the cost of a save does not grow with t);
    ``fresh=True``, another run's checkpoint in the folder, or a log that is not a prefix of ``history``
    start a new log. See the module docstring for the write order that makes a save all-or-nothing.
    """
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    t = int(state.round)
    if len(history) < t:
        raise ValueError(f"save_checkpoint: `history` has {len(history)} records but the state is at round {t}")
    manifest = None if fresh else _read_manifest(path)
    metadata = _plain(history.metadata)
    cache: dict[int, bytes] = {}

    def lines_of(i: int) -> bytes:
        if i not in cache:
            cache[i] = record_line(history.records[i])
        return cache[i]

    append = _appendable(manifest, path, lines_of, metadata, t)
    state_data = _state_bytes(state)
    state_name = f"state-r{t:06d}-{secrets.token_hex(6)}.npz"
    _write_atomic(path / state_name, state_data)
    log = _append_log(path, manifest, lines_of, t, append)
    new_manifest = {
        "format": FORMAT, "version": VERSION, "round": t,
        "state_file": state_name, "state_sha256": hashlib.sha256(state_data).hexdigest(), **log,
        "algorithm_config": algorithm_config.to_dict(), "run_config": _plain(run_config.to_dict()),
        "metadata": metadata, "final": _plain(history.final_point),
        "status": history.status, "message": history.message,
    }
    _write_atomic(path / MANIFEST_FILE, json.dumps(new_manifest, allow_nan=True, indent=1).encode("utf-8"))
    _fsync_dir(path)
    for entry in path.iterdir():  # files of earlier saves, now unreferenced
        if entry.name not in (MANIFEST_FILE, state_name, log["history_file"]) and is_checkpoint_file(entry.name):
            entry.unlink(missing_ok=True)


# --- loading ----------------------------------------------------------------------------------------

def _damaged(path: Path, what: str) -> CheckpointError:
    return CheckpointError(
        f"load_checkpoint: the checkpoint in {str(path)!r} is damaged: {what}. It cannot be resumed; delete "
        "that folder to start the run from round 0 (or restore it from a copy)"
    )


def _load_state(path: Path, name: str, sha: str | None) -> FederatedState:
    try:
        data = (path / name).read_bytes()
    except OSError as exc:
        raise _damaged(path, f"its state file {name} cannot be read ({exc.strerror or exc})") from None
    if sha is not None and hashlib.sha256(data).hexdigest() != sha:
        raise _damaged(path, f"the state file {name} does not match its checksum")
    try:
        with np.load(io.BytesIO(data)) as npz:
            return FederatedState(int(npz["round"]), np.array(npz["x"], dtype=np.float64), int(npz["seed"]),
                                  np.array(npz["server_lambda"], dtype=np.float64))
    except Exception as exc:  # noqa: BLE001 - BadZipFile, EOFError, KeyError, ...: all mean a damaged file
        raise _damaged(path, f"the state file {name} cannot be decoded ({type(exc).__name__}: {exc})") from None


def _load_records(path: Path, manifest: dict) -> list[RoundRecord]:
    name, n, size = manifest["history_file"], int(manifest["history_records"]), int(manifest["history_bytes"])
    try:
        with open(path / name, "rb") as fh:
            data = fh.read(size)
    except OSError as exc:
        raise _damaged(path, f"its history log {name} cannot be read ({exc.strerror or exc})") from None
    if len(data) != size:
        raise _damaged(path, f"the history log {name} holds {len(data)} bytes, the manifest commits {size}")
    lines = data.splitlines(keepends=True)
    if len(lines) != n:
        raise _damaged(path, f"the history log {name} holds {len(lines)} records, the manifest commits {n}")
    chain, records = _CHAIN_SEED, []
    for i, line in enumerate(lines):
        chain = _chain(chain, line)
        try:
            records.append(RoundRecord.from_dict(json.loads(line)))
        except Exception as exc:  # noqa: BLE001 - any decoding error is damage
            raise _damaged(path, f"record {i} of the history log cannot be decoded ({type(exc).__name__}: {exc})") from None
    if chain != manifest["history_sha256"]:
        raise _damaged(path, f"the history log {name} does not match its checksum")
    return records


def _read(path: Path) -> tuple[FederatedState, History, dict]:
    """(state, history, saved configs) of the folder, every file checked; CheckpointError otherwise."""
    if not (path / MANIFEST_FILE).is_file():
        if (path / LEGACY_STATE_FILE).is_file() or (path / LEGACY_CHECKPOINT_FILE).is_file():
            return _read_legacy(path)
        raise CheckpointError(f"load_checkpoint: `directory` {str(path)!r} holds no checkpoint ({MANIFEST_FILE} is "
                              "missing); give the folder a run wrote its checkpoints to")
    try:
        manifest = json.loads((path / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _damaged(path, f"{MANIFEST_FILE} cannot be read ({type(exc).__name__}: {exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise _damaged(path, f"{MANIFEST_FILE} is not a version-{VERSION} firm checkpoint manifest")
    try:
        state = _load_state(path, manifest["state_file"], manifest["state_sha256"])
        records = _load_records(path, manifest)
        history = History(metadata=dict(manifest["metadata"]), status=manifest["status"], message=manifest["message"])
        for record in records:
            history.append(record)
        history.final_point = manifest["final"]
    except KeyError as exc:
        raise _damaged(path, f"{MANIFEST_FILE} lacks the field {exc}") from None
    except (TypeError, ValueError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise _damaged(path, f"{type(exc).__name__}: {exc}") from None
    if state.round != manifest["round"] or len(history) != state.round:
        raise _damaged(path, f"the manifest is at round {manifest['round']}, the state file at {state.round}, "
                             f"the log holds {len(history)} records")
    return state, history, manifest


def _read_legacy(path: Path) -> tuple[FederatedState, History, dict]:
    for name in (LEGACY_STATE_FILE, LEGACY_CHECKPOINT_FILE):
        if not (path / name).is_file():
            raise _damaged(path, f"the earlier two-file layout lacks {name}")
    state = _load_state(path, LEGACY_STATE_FILE, None)
    try:
        payload = json.loads((path / LEGACY_CHECKPOINT_FILE).read_text(encoding="utf-8"))
        history = History.from_dict(payload["history"])
        saved_round = int(payload["round"])
    except Exception as exc:  # noqa: BLE001 - any decoding error is damage
        raise _damaged(path, f"{LEGACY_CHECKPOINT_FILE} cannot be decoded ({type(exc).__name__}: {exc})") from None
    if state.round != saved_round or len(history) != state.round:
        raise _damaged(path, f"{LEGACY_STATE_FILE} is at round {state.round} but {LEGACY_CHECKPOINT_FILE} at "
                             f"{saved_round} with {len(history)} records (written by an earlier version that was "
                             "interrupted between its two files)")
    return state, history, payload


def _check_same_run(path: Path, saved: dict, history: History, state, algorithm_config, problem) -> None:
    todo = (f"resume with the configuration and problem saved in {str(path)!r}, or delete that folder to "
            "start over")
    if algorithm_config is not None:
        try:
            saved_cfg = AlgorithmConfig.from_dict(saved["algorithm_config"]).to_dict()
        except (KeyError, TypeError, ValueError) as exc:
            raise _damaged(path, f"its saved algorithm config is invalid ({exc})") from None
        given = algorithm_config.to_dict()
        diff = sorted(k for k, v in given.items() if saved_cfg.get(k) != v)
        if diff:
            raise CheckpointError(
                "load_checkpoint: the checkpoint was written with another algorithm config; differing fields "
                + ", ".join(f"`{k}` (saved {saved_cfg.get(k)!r}, given {given[k]!r})" for k in diff) + f"; {todo}")
    if problem is not None:
        saved_problem = history.metadata.get("problem")
        given_problem = json.loads(json.dumps(json_safe(problem.describe())))
        if saved_problem is not None and json_safe(saved_problem) != given_problem:
            diff = sorted(k for k in set(saved_problem) | set(given_problem)
                          if json_safe(saved_problem.get(k)) != given_problem.get(k))
            raise CheckpointError(f"load_checkpoint: the checkpoint was written for another problem; differing "
                                  f"fields {diff}; {todo}")
        if state.x.shape != (int(problem.dim),):
            raise CheckpointError(f"load_checkpoint: checkpoint x has shape {state.x.shape}, the problem has "
                                  f"d = {problem.dim}; {todo}")


def load_checkpoint(directory, algorithm_config: AlgorithmConfig | None = None, problem=None):
    """(state, history) from a checkpoint folder, every file verified. With ``algorithm_config`` /
    ``problem`` given, a checkpoint of another config or problem is refused; every refusal is a
    :class:`CheckpointError` (a ValueError) saying what is wrong and what to do."""
    path = Path(directory)
    if not path.is_dir():
        raise CheckpointError(f"load_checkpoint: `directory` {str(path)!r} holds no checkpoint (no such folder)")
    state, history, saved = _read(path)
    _check_same_run(path, saved, history, state, algorithm_config, problem)
    return state, history


def checkpoint_round(directory) -> int | None:
    """Round of the checkpoint in ``directory`` (no verification beyond the manifest), None when there is none."""
    manifest = _read_manifest(Path(directory))
    return None if manifest is None else int(manifest["round"])


__all__ = [
    "CheckpointError", "MANIFEST_FILE", "checkpoint_round", "clear_checkpoint", "is_checkpoint_file",
    "load_checkpoint", "prepare_checkpoint_dir", "record_line", "save_checkpoint",
]
