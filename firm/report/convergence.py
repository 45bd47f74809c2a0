"""The convergence section's one contact with the theory checks (``theory_checks.suite.run_suite``).

:func:`theory_summary` runs the suite in quick mode and reads only these fields: ``SuiteResult.ok``,
``.cells[].spec.name`` and ``.cells[].checks``, ``.rates[].checks``, ``.beta.checks``, ``.liveness``,
``.seconds``; of every check ``name``, ``ok``, ``ratio``, ``count``; and the kind of each cell's main
bound from ``theory_checks.report.classify`` ("certificate", "checked in expectation (...)", "sanity
check in expectation (...)" or "holds, not informative"), which every check of that cell carries here.
Rate and beta-story checks are "unclassified".
"""

from __future__ import annotations

import math


def _check_row(group: str, check, kind: str = "unclassified") -> dict:
    ratio = float(getattr(check, "ratio", float("nan")))
    return {"group": group, "name": str(check.name), "ok": bool(check.ok),
            "ratio": ratio if math.isfinite(ratio) else None, "count": int(getattr(check, "count", 0)),
            "kind": kind}


def theory_summary(progress: bool = False) -> dict:
    """{"ok", "seconds", "checks": [row], "kinds": {kind: [held, total]}, "liveness_ok", "liveness_total"}."""
    from theory_checks.report import classify
    from theory_checks.suite import run_suite

    res = run_suite(quick=True, progress=progress)
    rows = [_check_row(f"cell {c.spec.name}", k, classify(c)) for c in res.cells for k in c.checks]
    rows += [_check_row("rate", k) for r in res.rates for k in r.checks]
    if res.beta is not None:
        rows += [_check_row("beta story", k) for k in res.beta.checks]
    kinds: dict[str, list[int]] = {}
    for r in rows:
        held, total = kinds.get(r["kind"], [0, 0])
        kinds[r["kind"]] = [held + int(r["ok"]), total + 1]
    return {"ok": bool(res.ok), "seconds": float(res.seconds), "checks": rows, "kinds": kinds,
            "liveness_ok": sum(bool(k.ok) for k in res.liveness), "liveness_total": len(res.liveness)}
