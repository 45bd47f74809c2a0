"""Per-client prompt mixes and preferences of the LoRA RLHF backend: a Flower run with them equals the
federated engine's run of the same task (pools from the mixes, p_i per client)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("flwr")
torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from backends.flower.protocol import METRICS_KEY  # noqa: E402
from tests.flower.test_rlhf_backend import (  # noqa: E402
    WIRE_RTOL,
    engine_run,
    rlhf_settings,
    run_inprocess,
    train_replies_by_round,
)

pytestmark = [pytest.mark.flower, pytest.mark.torch]

#: A client's mean lambda: same float32 gradients, same float64 min-norm solve.
LAMBDA_ATOL = 1e-12
PREFERENCES = ((0.9, 0.1), (0.1, 0.9))


def test_flower_run_with_client_mixes_and_preferences_equals_the_engine():
    import dataclasses

    from backends.rlhf.client_data import pools_from_mixes
    from backends.rlhf.prompts import PROMPT_MIXES

    torch.set_num_threads(1)
    first, second = sorted(PROMPT_MIXES)[:2]
    mixes = [{first: 1.0}, {first: 0.25, second: 0.75}]
    base = rlhf_settings(2, rounds=1, local_steps=1, beta=0.0)  # beta = 0 would ignore p: use beta > 0 below
    settings = dataclasses.replace(base, problem={**base.problem, "client_mixes": mixes,
                                                  "client_preferences": [list(p) for p in PREFERENCES]},
                                   algorithm=dataclasses.replace(base.algorithm, beta=5.0))
    run, grid = run_inprocess(settings)
    task = settings.build_problem()
    assert task.pools == pools_from_mixes(mixes, seed=0)
    history, rows, engine_task = engine_run(settings)
    np.testing.assert_allclose(engine_task.client_preferences, PREFERENCES, rtol=0, atol=0)
    np.testing.assert_allclose(run.history.final_x, history.final_x, rtol=WIRE_RTOL, atol=0)
    replies = sorted(train_replies_by_round(grid)["1"], key=lambda m: m.content.metric_records[METRICS_KEY]["partition-id"])
    lam = np.array([m.content.metric_records[METRICS_KEY]["lambda-mean"] for m in replies])
    np.testing.assert_allclose(lam, rows[0]["client_lambdas"], rtol=0, atol=LAMBDA_ATOL)
    # beta large: each client's lambda sits near its own p_i, not near the shared uniform p
    assert lam[0, 0] > 0.5 > lam[1, 0], lam
