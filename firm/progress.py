"""Progress bars of the application: the core reports rounds through a hook, this draws them."""

from __future__ import annotations

import contextlib
import math

from tqdm.auto import tqdm


@contextlib.contextmanager
def round_bar(desc: str, *, enabled: bool = True):
    """A hook for ``firm_core.federated.run(..., progress=hook)`` that draws one bar (phi in its
    postfix); yields None when disabled. The bar starts at the first reported round (a resumed run
    starts part-way) and is closed on exit, also when the run fails."""
    if not enabled:
        yield None
        return
    bar = None

    def hook(record, total):
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, initial=int(record.round), desc=desc, leave=False)
        bar.update(1)
        if math.isfinite(record.phi):
            bar.set_postfix(phi=f"{record.phi:.2e}", refresh=False)

    try:
        yield hook
    finally:
        if bar is not None:
            bar.close()


def job_bar(desc: str, total: int, *, enabled: bool = True):
    """A plain bar over ``total`` jobs (runs of a suite); a disabled bar still counts silently."""
    return tqdm(total=total, desc=desc, leave=False, disable=not enabled)
