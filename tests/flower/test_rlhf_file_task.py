"""A ``firm rlhf`` task with a prompts file split by a column, a file.py:callable reward and the adaptive
KL controller runs on Flower (in-process grid) exactly as on the federated engine: the whole
LLMTaskConfig travels in the run config, the server's KL controller sets each round's coefficient."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("flwr")
torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from firm_core.federated.config import AlgorithmConfig  # noqa: E402

from backends.flower.protocol import METRICS_KEY  # noqa: E402
from backends.flower.rlhf.run_config import config_to_run_config  # noqa: E402
from backends.flower.rlhf.settings import problem_of, task_config  # noqa: E402
from backends.flower.settings import FlowerSettings  # noqa: E402
from tests.flower.test_rlhf_backend import engine_run, run_inprocess, train_replies_by_round  # noqa: E402
from tests.flower.test_rlhf_run_config import PROMPT_RECORDS, file_task  # noqa: E402

pytestmark = [pytest.mark.flower, pytest.mark.torch]

#: Final adapter of the Flower run against the engine's: float32 adapters averaged in float64 by both.
ENGINE_ATOL = 1e-6
#: A client's mean lambda: same float32 gradients, same float64 min-norm solve.
LAMBDA_ATOL = 1e-12


def test_flower_run_of_a_prompts_file_task_equals_the_engine(tmp_path):
    torch.set_num_threads(1)
    cfg = file_task(tmp_path)
    algorithm = AlgorithmConfig(name="firm", local_steps=1, lr=1e-2, beta=0.5, preference=(0.7, 0.3), seed=2)
    flat = config_to_run_config(cfg)  # what `firm flower` writes for `flwr run`
    settings = FlowerSettings.from_run_config({**flat, "backend": "rlhf", "num-server-rounds": 2, "timeout": 120.0,
                                               "algorithm.name": "firm", "algorithm.local-steps": 1,
                                               "algorithm.lr": 1e-2, "algorithm.beta": 0.5,
                                               "algorithm.preference": "0.7,0.3", "algorithm.seed": 2})
    assert task_config(settings.problem) == cfg and settings.algorithm == algorithm
    run, grid = run_inprocess(settings)
    task = settings.build_problem()
    topics = {r["prompt"]: r["topic"] for r in PROMPT_RECORDS}
    assert [sorted({topics[p] for p in pool}) for pool in task.pools] == [["a"], ["b"]]  # split by the column
    assert [r.name for r in task.rewards] == ["brevity", "shortness"]  # the file's callable

    history, rows, engine_task = engine_run(settings)
    assert engine_task.describe()["task_config"] == {k: v for k, v in problem_of(cfg).items()
                                                     if k not in ("name", "device")}
    np.testing.assert_allclose(run.history.final_x, history.final_x, rtol=0, atol=ENGINE_ATOL)
    assert not np.allclose(history.final_x, task.initial_point())  # the adapter moved
    coefs = [run.result.train_metrics_clientapp[r]["kl-coef"] for r in (1, 2)]
    np.testing.assert_allclose(coefs, [row["kl_coef"] for row in rows], rtol=0, atol=1e-12)
    assert coefs[0] == cfg.kl_coef and coefs[1] != coefs[0]  # the adaptive controller moved it
    by_round = train_replies_by_round(grid)
    for row, record in zip(rows, run.history.records, strict=True):
        replies = sorted(by_round[str(record.round + 1)], key=lambda m: m.content.metric_records[METRICS_KEY]["partition-id"])
        lam = np.array([m.content.metric_records[METRICS_KEY]["lambda-mean"] for m in replies])
        np.testing.assert_allclose(lam, row["client_lambdas"], rtol=0, atol=LAMBDA_ATOL)
