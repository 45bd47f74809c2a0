"""The torch / LoRA backend of the Flower app: LoRA RLHF clients on the in-process grid.

Only the adapter tensors travel, the server averages them through firm_core, bad adapters are
dropped with their reason, and the run equals the federated engine's run of the same RLHF task on the same seed.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("flwr")
torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from firm_core.federated.config import AlgorithmConfig  # noqa: E402
from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict  # noqa: E402

from backends.flower.client_app import make_client_app, train_by_backend  # noqa: E402
from backends.flower.inprocess import InProcessGrid, ensure_task_identity  # noqa: E402
from backends.flower.protocol import ARRAYS_KEY, KL_KEY, METRICS_KEY, REWARDS_KEY  # noqa: E402
from backends.flower.records import TensorSpec, iterate_to_record, tensors_to_record  # noqa: E402
from backends.flower.rlhf.client import train as rlhf_train  # noqa: E402
from backends.flower.rlhf.settings import task_config, task_from_json  # noqa: E402
from backends.flower.server_app import run_strategy  # noqa: E402
from backends.flower.settings import FlowerSettings  # noqa: E402
from backends.flower.validation import ReplyExpectation, ReplyRejected, arrays_to_vector  # noqa: E402
from backends.rlhf.policy import state_nbytes  # noqa: E402

pytestmark = [pytest.mark.flower, pytest.mark.torch]

#: The adapter travels in its own dtype (float32): the server's float64 average x_{t+1} is rounded
#: once to float32 on the wire, which moves an entry by at most one float32 ulp (eps relative).
WIRE_RTOL = float(np.finfo(np.float32).eps)
#: float64 round-off of x + sum_i wbar_i (y_i - x) against sum_i wbar_i y_i (entries are O(1)).
AVERAGE_ATOL = 1e-12

#: A small task: 2 prompts x 4 completions x 8 new tokens per step on the tiny offline model.
SMALL_TASK = {"name": "rlhf", "group_size": 4, "prompts_per_step": 2, "max_new_tokens": 8, "seed": 0}


def rlhf_settings(num_clients: int = 2, *, rounds: int = 2, **algorithm) -> FlowerSettings:
    alg = {"name": "firm", "local_steps": 2, "lr": 1e-2, "beta": 0.5, "seed": 3}
    alg.update(algorithm)
    return FlowerSettings(problem={**SMALL_TASK, "num_clients": num_clients}, algorithm=AlgorithmConfig(**alg),
                          rounds=rounds, timeout=120.0, backend="rlhf")


def engine_run(settings: FlowerSettings):
    """(History, per-round rows, engine task) of the federated engine's run of the task of ``settings``, as
    ``firm rlhf`` runs it: ``build_task`` of the same LLMTaskConfig (evaluation off), then ``run_task``."""
    from backends.rlhf.build import build_task
    from backends.rlhf.experiment import run_task

    engine_task = build_task(task_config(settings.problem).replace(eval_samples=0))
    history, rows = run_task(engine_task, settings.algorithm, settings.rounds)
    return history, rows, engine_task


def run_inprocess(settings: FlowerSettings, apps=None):
    """(FlowerRun, grid) of ``settings`` on an InProcessGrid; ``apps`` replaces some partitions' ClientApp."""
    n = settings.build_problem().num_clients
    default = make_client_app()
    nodes = InProcessGrid.make_nodes(default, n)
    for node in nodes:
        node.app = (apps or {}).get(node.node_config["partition-id"], default)
    with InProcessGrid(nodes) as grid:
        return run_strategy(grid, settings), grid


def train_replies_by_round(grid) -> dict[str, list[Message]]:
    out: dict[str, list[Message]] = {}
    for m in grid.reply_log:
        if m.metadata.message_type == "train":
            out.setdefault(m.metadata.group_id, []).append(m)
    return out


def adapter_of(message: Message) -> dict[str, np.ndarray]:
    record = message.content.array_records[ARRAYS_KEY]
    return {k: record[k].numpy() for k in record}


@pytest.fixture(scope="module")
def two_round_run():
    torch.set_num_threads(1)
    settings = rlhf_settings(2, rounds=2)
    run, grid = run_inprocess(settings)
    return settings, run, grid


def test_run_completes_and_only_lora_tensors_travel(two_round_run):
    settings, run, grid = two_round_run
    task = settings.build_problem()
    names = sorted(task.initial_state)
    assert names and all("lora_" in n for n in names)
    records = run.history.records
    assert [r.round for r in records] == [0, 1]
    assert all(not r.skipped and r.dropped == () and r.participants == (0, 1) for r in records)
    sent = [m for m in grid.sent_log if m.metadata.message_type == "train"]
    replies = [m for m in grid.reply_log if m.metadata.message_type == "train"]
    assert len(sent) == len(replies) == 4
    for m in sent + replies:
        assert list(m.content.array_records) == [ARRAYS_KEY]
        arrays = adapter_of(m)
        assert sorted(arrays) == names  # exactly the adapter's tensors, nothing of the base model
        for n in names:
            assert arrays[n].shape == tuple(task.initial_state[n].shape) and arrays[n].dtype == np.float32
    for r in records:  # payload = the adapter's real bytes, each way, per client
        assert r.uplink_bytes == r.downlink_bytes == 2 * state_nbytes(task.initial_state)
    for m in replies:
        metrics = m.content.metric_records[METRICS_KEY]
        assert len(metrics[REWARDS_KEY]) == 2 and np.isfinite(metrics[KL_KEY])
        assert metrics["num-examples"] == len(task.pools[metrics["partition-id"]])


def test_aggregated_adapter_is_the_weighted_average_of_the_replies(two_round_run):
    settings, run, grid = two_round_run
    by_round = train_replies_by_round(grid)
    names = sorted(settings.build_problem().initial_state)
    assert sorted(by_round) == ["1", "2"]
    for server_round, replies in by_round.items():
        w = np.array([m.content.metric_records[METRICS_KEY]["num-examples"] for m in replies])
        ys = np.stack([np.concatenate([adapter_of(m)[n].reshape(-1) for n in names]).astype(np.float64) for m in replies])
        average = (w[:, None] * ys).sum(axis=0) / w.sum()
        x_next = run.strategy.iterates[int(server_round)]  # what the next round started from
        assert not np.array_equal(x_next, run.strategy.iterates[int(server_round) - 1])  # the adapter moved
        np.testing.assert_allclose(x_next, average, rtol=WIRE_RTOL, atol=AVERAGE_ATOL)


def test_flower_run_equals_the_rlhf_federated_loop(two_round_run):
    settings, run, grid = two_round_run
    history, rows, engine_task = engine_run(settings)
    ref_state = engine_task.point_state(history.final_point["x"])
    coefs = [run.result.train_metrics_clientapp[r]["kl-coef"] for r in (1, 2)]
    assert coefs[0] == task_config(settings.problem).kl_coef and coefs[1] != coefs[0]  # the adaptive controller moved
    final = run.result.arrays
    assert sorted(final) == sorted(ref_state)
    for name, tensor in ref_state.items():
        np.testing.assert_allclose(final[name].numpy(), tensor.numpy(), rtol=WIRE_RTOL, atol=0)
    by_round = train_replies_by_round(grid)
    names = engine_task.objective_names
    for row, record in zip(rows, run.history.records, strict=True):
        replies = sorted(by_round[str(record.round + 1)], key=lambda m: m.content.metric_records[METRICS_KEY]["partition-id"])
        lam = np.array([m.content.metric_records[METRICS_KEY]["lambda-mean"] for m in replies])
        np.testing.assert_allclose(lam, row["client_lambdas"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(run.result.train_metrics_clientapp[record.round + 1][REWARDS_KEY],
                                   [row[f"train_reward_{n}"] for n in names], rtol=0, atol=1e-12)
        assert record.uplink_bytes == int(row["client_uplink_bytes"])
        assert record.downlink_bytes == len(replies) * engine_task.adapter_nbytes


def faulty_adapter_app(kind: str):
    """The LoRA ClientApp, except its reply's adapter: "shape" (one tensor has an extra row), "nan"
    (one entry NaN), "extra" (a base-model tensor added), "float64" (one tensor upcast)."""

    def train(message: Message, context) -> Message:
        reply = rlhf_train(message, context)
        arrays = adapter_of(reply)
        name = sorted(arrays)[0]
        if kind == "shape":
            arrays[name] = np.concatenate([arrays[name], arrays[name][:1]])
        elif kind == "nan":
            arrays[name] = arrays[name].copy()
            arrays[name].reshape(-1)[3] = np.nan
        elif kind == "extra":
            arrays["base_model.model.transformer.wte.weight"] = np.zeros((4, 4), dtype=np.float32)
        elif kind == "float64":
            arrays[name] = arrays[name].astype(np.float64)
        else:
            raise ValueError(f"faulty_adapter_app: unknown `kind` {kind!r}")
        metrics = MetricRecord(dict(reply.content.metric_records[METRICS_KEY]))
        return Message(RecordDict({ARRAYS_KEY: tensors_to_record(arrays), METRICS_KEY: metrics}), reply_to=message)

    return make_client_app(train)


def test_bad_adapter_replies_are_dropped_with_their_reason():
    torch.set_num_threads(1)
    settings = rlhf_settings(5, rounds=1, local_steps=1)
    kinds = {1: "shape", 2: "nan", 3: "extra", 4: "float64"}
    run, grid = run_inprocess(settings, {cid: faulty_adapter_app(kind) for cid, kind in kinds.items()})
    (record,) = run.history.records
    assert not record.skipped
    reasons = {d["client"]: d["reason"] for d in record.dropped}
    assert sorted(reasons) == [1, 2, 3, 4], reasons
    assert "shape" in reasons[1] and "non-finite" in reasons[2] and "unexpected" in reasons[3] and "dtype" in reasons[4]
    (good,) = [m for m in grid.reply_log if m.metadata.message_type == "train"
               and m.content.metric_records[METRICS_KEY]["partition-id"] == 0]
    for name, value in adapter_of(good).items():  # x_1 = x_0 + 1 * (y_0 - x_0): client 0's adapter alone
        np.testing.assert_allclose(run.result.arrays[name].numpy(), value, rtol=WIRE_RTOL, atol=AVERAGE_ATOL)


def test_client_whose_steps_are_all_skipped_raises(two_round_run, monkeypatch):
    from backends.flower.client_state import ClientUpdateError

    settings, run, _ = two_round_run
    task = settings.build_problem()

    class Poisoned:  # inf rewards: NaN advantages, every step skipped (RLHFConfig on_nonfinite="skip")
        name = "poisoned"

        def __call__(self, prompts, completions):
            return np.full(len(prompts), np.inf)

    monkeypatch.setattr(task.engine, "rewards", [Poisoned(), task.rewards[1]])
    ensure_task_identity(1)
    arrays = tensors_to_record({k: v.numpy() for k, v in task.initial_state.items()})
    msg = Message(RecordDict({ARRAYS_KEY: arrays, "config": settings.train_config(5, 2)}), 1001, "train")
    context = Context(run_id=1, node_id=1001, node_config={"partition-id": 1}, state=RecordDict(), run_config={})
    with pytest.raises(ClientUpdateError, match="all 2 local steps were skipped"):
        train_by_backend(msg, context)
    assert "firm-client" not in context.state.config_records  # a failed round is not counted


# --- settings, task spec and layout checks ------------------------------------------------------------
def test_backend_is_validated_and_travels_in_the_train_config():
    with pytest.raises(ValueError, match=r"`backend`.*'torch'"):
        FlowerSettings(backend="torch")
    with pytest.raises(ValueError, match=r"`dp.mode`.*'server-fixed'"):
        from backends.flower.settings import DPSettings

        FlowerSettings(problem=SMALL_TASK, backend="rlhf", dp=DPSettings(mode="server-fixed", noise_multiplier=0.1))
    settings = rlhf_settings(2)
    assert settings.train_config(0, 2)["backend"] == "rlhf"
    assert FlowerSettings().train_config(0, 2)["backend"] == "numpy"
    parsed = FlowerSettings.from_run_config({"backend": "rlhf", "problem.name": "rlhf", "problem.rewards": "brevity",
                                             "problem.group-size": 4})
    assert parsed.backend == "rlhf" and task_config(parsed.problem).rewards == ("brevity",)


@pytest.mark.parametrize(("spec", "needle"), [
    ({"name": "quadratics"}, "`name`"),
    ({"name": "rlhf", "dim": 5}, "unknown field(s) ['dim']"),
    ({"name": "rlhf", "group_size": 1}, "`group_size`"),
    ({"name": "rlhf", "num_clients": 0}, "`num_clients`"),
    ({"name": "rlhf", "heterogeneity": 1.5}, "`heterogeneity`"),
    ({"name": "rlhf", "rewards": []}, "`rewards`"),
    ({"name": "rlhf", "lora_r": 0}, "`r`"),
])
def test_bad_task_spec_is_refused_naming_the_key(spec, needle):
    with pytest.raises(ValueError) as info:
        FlowerSettings(problem=spec, backend="rlhf")
    assert needle in str(info.value)


def test_client_refuses_an_unknown_backend_and_a_foreign_adapter():
    ensure_task_identity(1)
    settings = rlhf_settings(2)
    config = dict(settings.train_config(0, 2))
    context = Context(run_id=1, node_id=1001, node_config={"partition-id": 0}, state=RecordDict(), run_config={})
    msg = Message(RecordDict({ARRAYS_KEY: iterate_to_record(np.zeros(3)), "config": ConfigRecord({**config, "backend": "jax"})}),
                  1001, "train")
    with pytest.raises(ValueError, match=r"backend.*'jax'"):
        train_by_backend(msg, context)
    msg = Message(RecordDict({ARRAYS_KEY: iterate_to_record(np.zeros(3)), "config": ConfigRecord(config)}), 1001, "train")
    with pytest.raises(ReplyRejected, match="exactly the keys"):  # the numpy iterate is not this task's adapter
        train_by_backend(msg, context)
    assert task_from_json.cache_info().currsize >= 1  # the task was built once and kept


def test_tensor_layout_checks():
    specs = (TensorSpec("a", (2, 3), np.float32), TensorSpec("b", (4,), np.float32))
    expect = ReplyExpectation(10, 2, 2, tensors=specs)
    good = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(4, dtype=np.float32)}
    np.testing.assert_array_equal(arrays_to_vector(tensors_to_record(good), expect.specs), np.r_[np.arange(6), np.ones(4)])
    with pytest.raises(ValueError, match="`dim`"):
        ReplyExpectation(9, 2, 2, tensors=specs)
    with pytest.raises(ValueError, match="sorted"):
        ReplyExpectation(10, 2, 2, tensors=specs[::-1])
    with pytest.raises(ReplyRejected, match=r"missing \['b'\]"):
        arrays_to_vector(tensors_to_record({"a": good["a"]}), specs)
    with pytest.raises(ReplyRejected, match=r"'a' must have shape \(2, 3\)"):
        arrays_to_vector(tensors_to_record({**good, "a": good["a"].T}), specs)
    with pytest.raises(ReplyRejected, match="dtype float32"):
        arrays_to_vector(tensors_to_record({**good, "b": good["b"].astype(np.float16)}), specs)
