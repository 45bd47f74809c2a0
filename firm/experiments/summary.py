"""The summary table ``firm run`` prints: one row per algorithm, from its History's final metrics."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SummaryRow:
    """Final metrics of one algorithm: phi(x_T), D_lambda of the last round, F(x_T), distance of x_T to
    the Pareto set (None when unknown), uplink floats per round, mean round time and total time."""

    label: str
    rounds: int
    phi: float
    d_lambda: float
    objectives: tuple[float, ...]
    dist_pareto: float | None
    uplink_floats_per_round: float
    round_time_ms: float
    total_time_s: float
    status: str = "done"

    @classmethod
    def from_history(cls, label: str, history, *, total_time_s: float, status: str = "done") -> SummaryRow:
        final = history.final()
        records = history.records
        uplink = float(sum(r.uplink_floats for r in records)) / len(records) if records else math.nan
        round_ms = 1e3 * float(sum(r.wall_time for r in records)) / len(records) if records else math.nan
        dist = final.get("dist_pareto")
        return cls(
            label=label,
            rounds=int(final.get("rounds", len(records))),
            phi=float(final.get("phi", math.nan)),
            d_lambda=float(final.get("d_lambda", math.nan)),
            objectives=tuple(float(v) for v in final.get("objectives", ())),
            dist_pareto=None if dist is None else float(dist),
            uplink_floats_per_round=uplink,
            round_time_ms=round_ms,
            total_time_s=float(total_time_s),
            status=status,
        )

    def to_dict(self) -> dict:
        return {
            "label": self.label, "rounds": self.rounds, "phi": self.phi, "d_lambda": self.d_lambda,
            "objectives": list(self.objectives), "dist_pareto": self.dist_pareto,
            "uplink_floats_per_round": self.uplink_floats_per_round, "round_time_ms": self.round_time_ms,
            "total_time_s": self.total_time_s, "status": self.status,
        }


def _num(v: float | None, fmt: str = ".3e") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return format(v, fmt)


def format_table(rows: Sequence[SummaryRow]) -> str:
    """Fixed-width text table; '-' marks a metric that is not defined (e.g. D_lambda of FMGDA)."""
    m = max((len(r.objectives) for r in rows), default=0)
    header = ["algorithm", "rounds", "phi(x_T)", "D_lambda"] + [f"F{j + 1}(x_T)" for j in range(m)]
    header += ["dist(PS)", "uplink/round", "ms/round", "total s", "status"]
    body = []
    for r in rows:
        cells = [r.label, str(r.rounds), _num(r.phi), _num(r.d_lambda)]
        cells += [_num(v, ".4f") for v in r.objectives] + ["-"] * (m - len(r.objectives))
        cells += [_num(r.dist_pareto), _num(r.uplink_floats_per_round, ".0f"), _num(r.round_time_ms, ".2f"),
                  _num(r.total_time_s, ".2f"), r.status]
        body.append(cells)
    widths = [max(len(row[c]) for row in [header, *body]) for c in range(len(header))]

    def line(cells):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    rule = "-" * len(line(header))
    return "\n".join([line(header), rule, *(line(c) for c in body)])
