"""Everything ``firm check-theory`` runs: the grid of cells, the rates, the beta story and the liveness
self-test; ``SuiteResult.ok`` is False on any violation."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from .cells import CellResult, run_cell
from .checks import CheckResult
from .experiments import BetaStory, RateResult, beta_story, corollary_rate, theorem1_rate
from .grid import BETA_STORY, DEFAULT_GRID, LIMITS, QUICK_GRID, RATE_T
from .limits import LimitResult, fixed_point_offsets, preference_following, single_client_limit
from .liveness import liveness_checks


@dataclass
class SuiteResult:
    quick: bool
    cells: list[CellResult] = field(default_factory=list)
    rates: list[RateResult] = field(default_factory=list)
    beta: BetaStory | None = None
    limits: list[LimitResult] = field(default_factory=list)
    liveness: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0

    def violations(self) -> list[str]:
        out = [f"cell {c.spec.name}: {k.line()}" for c in self.cells for k in c.checks if not k.ok]
        out += [f"rate: {k.line()}" for r in self.rates for k in r.checks if not k.ok]
        if self.beta is not None:
            out += [f"beta story: {k.line()}" for k in self.beta.checks if not k.ok]
        out += [f"where FIRM ends ({r.name}): {k.line()}" for r in self.limits for k in r.checks if not k.ok]
        out += [f"liveness: checker did not flag a wrong input: {k.detail} ({k.name})" for k in self.liveness if not k.ok]
        return out

    @property
    def ok(self) -> bool:
        return not self.violations()


def run_suite(quick: bool = False, progress: bool = True) -> SuiteResult:
    start = time.perf_counter()
    grid = QUICK_GRID if quick else DEFAULT_GRID
    mode = "quick" if quick else "default"
    story = BETA_STORY[mode]
    lim = LIMITS[mode]
    total = len(grid) + 2 + len(story["betas"]) + len(story["fp_betas"]) + 1 + 2 + len(lim["betas"]) * len(lim["K_values"])
    res = SuiteResult(quick=quick)
    with tqdm(total=total, desc="check-theory", disable=not progress) as bar:
        for spec in grid:
            bar.set_postfix_str(spec.name)
            res.cells.append(run_cell(spec))
            bar.update(1)
        t1, t2 = RATE_T[mode]
        bar.set_postfix_str("rates")
        res.rates.append(theorem1_rate(t1))
        bar.update(1)
        res.rates.append(corollary_rate(t2))
        bar.update(1)
        bar.set_postfix_str("beta story")
        res.beta = beta_story(**story, progress=lambda: bar.update(1))
        bar.set_postfix_str("where FIRM ends")
        res.limits.append(single_client_limit(lim["T_values"]))
        res.limits.append(fixed_point_offsets(lim["betas"], lim["K_values"], progress=lambda: bar.update(1)))
        res.limits.append(preference_following(lim["prefs"]))
        bar.update(2)
        bar.set_postfix_str("liveness")
        res.liveness = liveness_checks()
        bar.update(1)
    res.seconds = time.perf_counter() - start
    return res
