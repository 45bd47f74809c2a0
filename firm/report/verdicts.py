"""Verdict rules: every verdict line of the report is computed here from the measured numbers.

A comparative claim is a list of :class:`Comparison` (one metric of FIRM against one baseline on one
setting, medians over seeds). FIRM is *not worse* in a comparison when its median is at least as good
as the baseline's up to a relative tie tolerance TIE_RTOL:

    lower is better:  firm <= baseline + TIE_RTOL * |baseline|
    higher is better: firm >= baseline - TIE_RTOL * |baseline|

Rule (:func:`comparative_verdict`): "holds" when FIRM is not worse in every comparison; "holds with
conditions" when it is not worse in at least HALF of them (the losses are listed); "does not hold here"
otherwise. A comparison whose numbers are not finite counts as a loss of the side that is not finite
(FIRM non-finite: a loss; baseline non-finite and FIRM finite: a win). A requirement that fails
(for instance FIRM's own monotonicity) caps the verdict at "holds with conditions".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Relative tolerance within which two medians count as a tie (FIRM not worse).
TIE_RTOL = 0.05
#: Fraction of comparisons FIRM must not lose for "holds with conditions".
HALF = 0.5

HOLDS = "holds"
CONDITIONAL = "holds with conditions"
FAILS = "does not hold here"
NOT_RUN = "not run"
VERDICTS = (HOLDS, CONDITIONAL, FAILS, NOT_RUN)


@dataclass(frozen=True)
class Comparison:
    """FIRM's median against one baseline's on one metric and setting."""

    metric: str
    setting: str
    baseline: str
    firm: float
    other: float
    lower_is_better: bool = True

    def __post_init__(self):  # a number read back from JSON may be null (NaN / inf written as null)
        for k in ("firm", "other"):
            v = getattr(self, k)
            object.__setattr__(self, k, float("nan") if v is None else float(v))

    def firm_not_worse(self) -> bool:
        f, o = float(self.firm), float(self.other)
        if not math.isfinite(f):
            return False
        if not math.isfinite(o):
            return True
        slack = TIE_RTOL * abs(o)
        return f <= o + slack if self.lower_is_better else f >= o - slack

    def describe(self) -> str:
        return f"{self.metric} on {self.setting}: {self.baseline} {self.other:.3g} vs FIRM {self.firm:.3g}"

    def to_dict(self) -> dict:
        return {"metric": self.metric, "setting": self.setting, "baseline": self.baseline, "firm": self.firm,
                "other": self.other, "lower_is_better": self.lower_is_better, "firm_not_worse": self.firm_not_worse()}


def comparative_verdict(comparisons, requirements=()) -> dict:
    """{"verdict", "line", "wins", "total", "losses"} from comparisons and (name, ok) requirements."""
    comps = list(comparisons)
    if not comps:
        raise ValueError("comparative_verdict: `comparisons` must not be empty")
    losses = [c for c in comps if not c.firm_not_worse()]
    wins = len(comps) - len(losses)
    if not losses:
        verdict = HOLDS
    elif wins >= HALF * len(comps):
        verdict = CONDITIONAL
    else:
        verdict = FAILS
    failed = [name for name, ok in requirements if not ok]
    if failed and verdict == HOLDS:
        verdict = CONDITIONAL
    line = f"**{verdict}**: FIRM not worse in {wins}/{len(comps)} comparisons (tie tolerance {TIE_RTOL:.0%})"
    if losses:
        shown = "; ".join(c.describe() for c in losses[:4])
        more = f"; and {len(losses) - 4} more" if len(losses) > 4 else ""
        line += f"; a baseline wins: {shown}{more}"
    if failed:
        line += f"; requirement not met: {', '.join(failed)}"
    return {"verdict": verdict, "line": line + ".", "wins": wins, "total": len(comps),
            "losses": [c.to_dict() for c in losses], "requirements": [[n, bool(ok)] for n, ok in requirements]}


def convergence_verdict(summary: dict) -> dict:
    """From the theory checks' summary: "holds" when no check is violated and every liveness probe
    rejected its wrong input; "holds with conditions" when the checks hold but a liveness probe did not
    fire (the checks may be unable to fail); "does not hold here" on any violation."""
    checks = summary["checks"]
    violated = [c["name"] for c in checks if not c["ok"]]
    live_total, live_ok = summary["liveness_total"], summary["liveness_ok"]
    if violated:
        verdict = FAILS
    elif live_ok < live_total:
        verdict = CONDITIONAL
    else:
        verdict = HOLDS
    line = (f"**{verdict}**: {len(checks) - len(violated)}/{len(checks)} theory checks hold, "
            f"{live_ok}/{live_total} liveness probes rejected a wrong bound")
    if violated:
        line += f"; violated: {', '.join(violated[:5])}"
    return {"verdict": verdict, "line": line + "."}


def not_run_verdict(reason: str) -> dict:
    return {"verdict": NOT_RUN, "line": f"**{NOT_RUN}**: {reason}."}
