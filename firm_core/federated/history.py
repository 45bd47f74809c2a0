"""Per-round records of one algorithm run, saved to JSON and CSV and loaded back.

Record t describes round t: the metrics of the iterate the round *starts* from (phi(x_t), F(x_t),
dist_pareto(x_t), all from full gradients of the global objective) and what happened in the round
(D_lambda, D_x, communication, wall time, participants, dropped clients). So ``series("phi")`` is
phi(x_0), ..., phi(x_{T-1}); the metrics of the final iterate x_T are in ``final``.

A history also carries the run's ``status`` ("completed", "diverged", "interrupted", "failed" or
"running") and a one-line ``message`` saying why a run stopped early. Records carry ``extras``: named
per-round scalars a backend reports (rewards, KL, ...), written as CSV columns ``extra.<name>``.

JSON is strict (no NaN literals): NaN and inf floats are written as null and read back as NaN.
Files are written to a temporary name and renamed, so a crash never leaves half a file.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import numbers
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Scalar float fields of a record (NaN when not defined for the algorithm or the round).
FLOAT_KEYS = ("phi", "d_lambda", "d_x", "wall_time")
#: Fields holding one float per objective.
VECTOR_KEYS = ("objectives", "lambda_mean")
#: Integer fields.
INT_KEYS = ("round", "uplink_floats", "downlink_floats", "uplink_bytes", "downlink_bytes")

SCHEMA_VERSION = 1

#: Run statuses: still going, ran every round, stopped on a non-finite iterate or a numerical error,
#: stopped by the user (Ctrl-C), stopped by another error.
RUN_STATUSES = ("running", "completed", "diverged", "interrupted", "failed")
#: CSV column prefix of the per-round extras.
EXTRA_PREFIX = "extra."


@dataclass(frozen=True)
class RoundRecord:
    """What one round did. See the module docstring for which iterate the metrics refer to.

    round : t.   phi : phi(x_t) = min_{l in simplex} ||J(x_t)^T l||^2.   objectives : F(x_t), M floats.
    d_lambda : mean_i ||lambda_i - lambda_bar||^2 over the clients that finished the round, lambda_i the
        client's mean lambda over its local steps, lambda_bar their plain mean (NaN for FMGDA/FSMGDA,
        whose clients use no lambda; 0 for FedAvg-LS and FedCMOO, whose clients share one lambda).
    d_x : mean_i ||y_i - x_{t+1}||^2 over the same clients.
    dist_pareto : distance of x_t to the analytic Pareto set, None when unknown.
    lambda_mean : lambda_bar (FIRM, Local-MGDA), p (FedAvg-LS) or the server's lambda (FMGDA, FSMGDA,
        FedCMOO); NaN when the round was skipped.
    uplink_floats / downlink_floats : floats sent client->server / server->client this round, summed
        over clients; *_bytes = floats * 8 (float64).
    wall_time : seconds spent in the round's client and server computation (not the metrics).
    participants : client ids sampled this round.   dropped : [{"client": id, "reason": str}].
    skipped : True when no client was left, so x_{t+1} = x_t.
    solver_status : worst min-norm solver status of the round ("converged", "max_iter", "numerical"),
        or "" when no lambda problem was solved.
    extras : {name: float} per-round scalars reported by a backend (rewards, KL, ...); empty by default.
    """

    round: int
    phi: float
    objectives: tuple[float, ...]
    d_lambda: float
    d_x: float
    dist_pareto: float | None
    lambda_mean: tuple[float, ...]
    uplink_floats: int
    downlink_floats: int
    uplink_bytes: int
    downlink_bytes: int
    wall_time: float
    participants: tuple[int, ...]
    dropped: tuple[dict, ...] = ()
    skipped: bool = False
    solver_status: str = ""
    extras: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "extras", check_extras(self.extras))

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["extras"] = dict(self.extras)
        d["objectives"] = list(self.objectives)
        d["lambda_mean"] = list(self.lambda_mean)
        d["participants"] = list(self.participants)
        d["dropped"] = [dict(x) for x in self.dropped]
        return d

    @classmethod
    def from_dict(cls, data: dict) -> RoundRecord:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"RoundRecord: unknown field(s) {unknown}")
        d = dict(data)
        for k in FLOAT_KEYS:
            d[k] = _nan_if_none(d[k])
        for k in VECTOR_KEYS:
            d[k] = tuple(_nan_if_none(v) for v in d[k])
        for k in INT_KEYS:
            d[k] = int(d[k])
        d["dist_pareto"] = None if d.get("dist_pareto") is None else float(d["dist_pareto"])
        d["participants"] = tuple(int(i) for i in d["participants"])
        d["dropped"] = tuple({"client": int(x["client"]), "reason": str(x["reason"])} for x in d.get("dropped", ()))
        extras = d.get("extras") or {}
        if not isinstance(extras, dict):
            raise ValueError(f"RoundRecord: `extras` must be a dict of floats, got {type(extras).__name__}")
        d["extras"] = {k: _nan_if_none(v) for k, v in extras.items()}
        return cls(**d)


def check_extras(extras) -> dict[str, float]:
    """``extras`` as {str: float}; TypeError naming the key or value that is not a name / real number."""
    if not isinstance(extras, dict):
        raise TypeError(f"RoundRecord: `extras` must be a dict of {{name: float}}, got {type(extras).__name__}")
    out = {}
    for k, v in extras.items():
        if not isinstance(k, str) or not k:
            raise TypeError(f"RoundRecord: `extras` keys must be non-empty strings, got {k!r}")
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"RoundRecord: `extras[{k!r}]` must be a real number, got {type(v).__name__}")
        out[k] = float(v)
    return out


@dataclass
class History:
    """Records of one algorithm run plus metadata (algorithm, config, problem, seed) and the final point.

    ``final`` (set by the engine when the run ends): {"round": T, "phi": phi(x_T), "objectives": F(x_T),
    "dist_pareto": ..., "x": x_T as a list}.
    ``status`` : one of :data:`RUN_STATUSES` (set by the engine; "completed" for a history built by hand);
    ``message`` : why the run stopped early ("" when it completed).
    """

    records: list[RoundRecord] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    final_point: dict | None = None
    status: str = "completed"
    message: str = ""

    def __post_init__(self):
        self.set_status(self.status, self.message)

    def set_status(self, status: str, message: str = "") -> None:
        """Set the run status (one of :data:`RUN_STATUSES`) and its message."""
        if status not in RUN_STATUSES:
            raise ValueError(f"History: `status` must be one of {RUN_STATUSES}, got {status!r}")
        if not isinstance(message, str):
            raise TypeError(f"History: `message` must be a string, got {type(message).__name__}")
        self.status, self.message = status, message

    def append(self, record: RoundRecord) -> None:
        if not isinstance(record, RoundRecord):
            raise TypeError(f"History.append: `record` must be a RoundRecord, got {type(record).__name__}")
        expected = len(self.records)
        first = self.records[0].round if self.records else record.round
        if self.records and record.round != first + expected:
            raise ValueError(
                f"History.append: `record.round` must be {first + expected} (rounds are consecutive), got {record.round}"
            )
        self.records.append(record)

    def __len__(self) -> int:
        return len(self.records)

    def series(self, key: str) -> np.ndarray:
        """One value per round: shape (T,) for scalar fields, (T, M) for per-objective fields.

        dist_pareto None becomes NaN; ``num_participants`` and ``num_dropped`` count the lists;
        ``"extra.<name>"`` is that extra per round (NaN in rounds that did not report it).
        """
        if key.startswith(EXTRA_PREFIX):
            name = key[len(EXTRA_PREFIX):]
            return np.array([r.extras.get(name, np.nan) for r in self.records], dtype=np.float64)
        if key == "num_participants":
            return np.array([len(r.participants) for r in self.records], dtype=np.int64)
        if key == "num_dropped":
            return np.array([len(r.dropped) for r in self.records], dtype=np.int64)
        names = {f.name for f in dataclasses.fields(RoundRecord)}
        if key not in names or key in ("participants", "dropped", "extras"):
            valid = sorted(names - {"participants", "dropped", "extras"} | {"num_participants", "num_dropped"})
            valid.append("extra.<name>")
            raise ValueError(f"History.series: `key` must be one of {valid}, got {key!r}")
        vals = [getattr(r, key) for r in self.records]
        if key == "dist_pareto":
            return np.array([np.nan if v is None else v for v in vals], dtype=np.float64)
        if key in VECTOR_KEYS:
            width = len(vals[0]) if vals else 0
            return np.array(vals, dtype=np.float64).reshape(len(vals), width)
        if key in INT_KEYS:
            return np.array(vals, dtype=np.int64)
        if key == "skipped":
            return np.array(vals, dtype=bool)
        if key == "solver_status":
            return np.array(vals, dtype=object)
        return np.array(vals, dtype=np.float64)

    def final(self) -> dict:
        """Summary at the end: metrics of x_T (from ``final_point``; else of the last record's x_t) and totals."""
        out: dict[str, Any] = {}
        if self.final_point is not None:
            out.update({k: v for k, v in self.final_point.items() if k != "x"})
        elif self.records:
            last = self.records[-1]
            out.update(round=last.round, phi=last.phi, objectives=list(last.objectives), dist_pareto=last.dist_pareto)
        out["rounds"] = len(self.records)
        out["total_uplink_floats"] = int(sum(r.uplink_floats for r in self.records))
        out["total_downlink_floats"] = int(sum(r.downlink_floats for r in self.records))
        out["total_wall_time"] = float(sum(r.wall_time for r in self.records))
        out["skipped_rounds"] = int(sum(r.skipped for r in self.records))
        out["dropped_clients"] = int(sum(len(r.dropped) for r in self.records))
        if self.records:
            out["d_lambda"] = self.records[-1].d_lambda
            out["d_x"] = self.records[-1].d_x
            out["uplink_floats_per_round"] = self.records[-1].uplink_floats
        return out

    @property
    def final_x(self) -> np.ndarray | None:
        if self.final_point is None or "x" not in self.final_point:
            return None
        return np.asarray(self.final_point["x"], dtype=np.float64)

    # --- serialization --------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "schema_version": SCHEMA_VERSION,
            "metadata": self.metadata,
            "records": [r.to_dict() for r in self.records],
            "final": self.final_point,
            "status": self.status,
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, data: dict) -> History:
        if not isinstance(data, dict) or "records" not in data:
            raise ValueError("History.from_dict: `data` must be a dict with a 'records' list")
        version = data.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise ValueError(f"History.from_dict: unsupported `schema_version` {version!r} (expected {SCHEMA_VERSION})")
        final = data.get("final")
        if final is not None:
            final = _restore_final(final)
        hist = cls(metadata=dict(data.get("metadata", {})), final_point=final,
                   status=data.get("status", "completed"), message=data.get("message", ""))
        for r in data["records"]:
            hist.append(RoundRecord.from_dict(r))
        return hist

    def to_json(self, path: str | os.PathLike) -> None:
        with atomic_text_file(path) as fh:
            json.dump(json_safe(self.to_dict()), fh, allow_nan=False, indent=1)
            fh.write("\n")

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> History:
        with open(path, encoding="utf-8") as fh:
            return cls.from_dict(json.load(fh))

    def csv_columns(self) -> list[str]:
        m = len(self.records[0].objectives) if self.records else 0
        cols = ["round", "phi"] + [f"objective_{j}" for j in range(m)]
        cols += ["d_lambda", "d_x", "dist_pareto"] + [f"lambda_mean_{j}" for j in range(m)]
        cols += ["uplink_floats", "downlink_floats", "uplink_bytes", "downlink_bytes", "wall_time"]
        cols += ["num_participants", "participants", "num_dropped", "dropped", "skipped", "solver_status"]
        cols += [EXTRA_PREFIX + name for name in self.extra_names()]
        return cols

    def extra_names(self) -> list[str]:
        """Sorted names of every extra any record reports."""
        return sorted({name for r in self.records for name in r.extras})

    def to_csv(self, path: str | os.PathLike) -> None:
        """One row per round; per-objective lists become objective_j / lambda_mean_j columns, the
        participant list is space-separated ids and dropped is "id:reason; ..."; extras are ``extra.<name>``
        columns; NaN / None (and an extra a round did not report) are empty."""
        cols = self.csv_columns()
        with atomic_text_file(path, newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(cols)
            for r in self.records:
                row: dict[str, Any] = {
                    "round": r.round,
                    "phi": r.phi,
                    "d_lambda": r.d_lambda,
                    "d_x": r.d_x,
                    "dist_pareto": r.dist_pareto,
                    "uplink_floats": r.uplink_floats,
                    "downlink_floats": r.downlink_floats,
                    "uplink_bytes": r.uplink_bytes,
                    "downlink_bytes": r.downlink_bytes,
                    "wall_time": r.wall_time,
                    "num_participants": len(r.participants),
                    "participants": " ".join(str(i) for i in r.participants),
                    "num_dropped": len(r.dropped),
                    "dropped": "; ".join(f"{x['client']}:{x['reason']}" for x in r.dropped),
                    "skipped": int(r.skipped),
                    "solver_status": r.solver_status,
                }
                for j, v in enumerate(r.objectives):
                    row[f"objective_{j}"] = v
                for j, v in enumerate(r.lambda_mean):
                    row[f"lambda_mean_{j}"] = v
                for name, v in r.extras.items():
                    row[EXTRA_PREFIX + name] = v
                writer.writerow([_csv_cell(row.get(c)) for c in cols])

    @staticmethod
    def read_csv(path: str | os.PathLike) -> dict[str, np.ndarray]:
        """Numeric columns of a CSV written by :meth:`to_csv` (empty cells -> NaN)."""
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        out: dict[str, np.ndarray] = {}
        if not rows:
            return out
        for col in rows[0]:
            if col in ("participants", "dropped", "solver_status"):
                out[col] = np.array([row[col] for row in rows], dtype=object)
                continue
            out[col] = np.array([float(row[col]) if row[col] != "" else np.nan for row in rows])
        return out


class atomic_text_file:  # noqa: N801 - used like open()
    """``with atomic_text_file(path) as fh``: write to a temporary file beside ``path``, flush, fsync and
    rename it over ``path`` on success; on any exception (Ctrl-C included) remove it and leave ``path`` as
    it was."""

    def __init__(self, path, newline=None):
        self.path = os.fspath(path)
        self.newline = newline

    def __enter__(self):
        folder = os.path.dirname(os.path.abspath(self.path))
        fd, self.tmp = tempfile.mkstemp(dir=folder, prefix=".firm-tmp-", suffix=".part")
        self.fh = os.fdopen(fd, "w", encoding="utf-8", newline=self.newline)
        return self.fh

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.fh.flush()
                os.fsync(self.fh.fileno())
            self.fh.close()
            if exc_type is None:
                os.replace(self.tmp, self.path)
        finally:
            if os.path.exists(self.tmp):
                os.unlink(self.tmp)
        return False


def _csv_cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)
    return str(v)


def _nan_if_none(v) -> float:
    return float("nan") if v is None else float(v)


def json_safe(obj):
    """Plain-JSON copy of ``obj``: NaN/inf -> None, numpy scalars and arrays -> Python, tuples -> lists
    (a diverged run's inf metrics must not make the history or its checkpoint unwritable)."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    return obj


def _restore_final(final: dict) -> dict:
    out = dict(final)
    if "phi" in out:
        out["phi"] = _nan_if_none(out["phi"])
    if "objectives" in out:
        out["objectives"] = [_nan_if_none(v) for v in out["objectives"]]
    if isinstance(out.get("x"), list) and any(v is None for v in out["x"]):
        out["x"] = [_nan_if_none(v) for v in out["x"]]
    return out
