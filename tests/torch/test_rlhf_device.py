"""--device / --dtype handling (CPU only; a GPU is simulated where the answer depends on one) and the task config."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from backends.rlhf.build import LLMTaskConfig  # noqa: E402
from backends.rlhf.client_data import parse_mix, pools_from_mixes  # noqa: E402
from backends.rlhf.device import check_device_spec, resolve_device, resolve_dtype  # noqa: E402

pytestmark = pytest.mark.torch


def test_device_spellings():
    assert check_device_spec(" CUDA:1 ") == "cuda:1"
    for bad in ("gpu", "cuda:", "cuda:-1", "cuda:x", "mps", ""):
        with pytest.raises(ValueError, match="`device`"):
            check_device_spec(bad)
    with pytest.raises(TypeError, match="`device`"):
        check_device_spec(0)


def test_auto_is_cpu_without_gpu_and_cuda_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    for spec in ("cuda", "cuda:0"):
        with pytest.raises(ValueError, match="needs a CUDA GPU"):
            resolve_device(spec)


def test_cuda_index_is_checked_against_the_visible_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == torch.device("cuda:0")
    assert resolve_device("cuda") == torch.device("cuda:0")
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(ValueError, match=r"2 CUDA device\(s\), indices 0..1"):
        resolve_device("cuda:2")


def test_dtypes():
    assert resolve_dtype("bfloat16", "cpu") is torch.bfloat16
    assert resolve_dtype("float16", "cuda:0") is torch.float16
    with pytest.raises(ValueError, match="float16.*CUDA"):
        resolve_dtype("float16", "cpu")
    with pytest.raises(ValueError, match="`dtype`"):
        resolve_dtype("float64")


def test_task_config_validates_and_round_trips():
    cfg = LLMTaskConfig(num_clients=2, client_preferences=[[3, 1], [0, 2]], client_mixes=[{"opinions": 2},
                        {"opinions": 1, "documentation": 3}], device="CPU")
    assert cfg.client_preferences == ((0.75, 0.25), (0.0, 1.0)) and cfg.device == "cpu"
    assert cfg.client_mixes[1] == {"opinions": 0.25, "documentation": 0.75}
    assert LLMTaskConfig.from_dict(cfg.to_dict()) == cfg
    for field, value, needle in [("num_clients", 0, "num_clients"), ("device", "tpu", "device"),
                                 ("dtype", "half", "dtype"), ("group_size", 1, "group_size"),
                                 ("client_preferences", [[1, 0]], "client_preferences"),
                                 ("client_mixes", [{"opinions": 1}], "client_mixes"),
                                 ("rewards", ["brevity", "brevity"], "rewards"), ("lora_r", 0, "r")]:
        with pytest.raises(ValueError, match=needle):
            LLMTaskConfig(**{field: value})
    with pytest.raises(ValueError, match="unknown field"):
        LLMTaskConfig.from_dict({"modle": "tiny"})


def test_client_mixes_make_the_pools():
    assert parse_mix("opinions=3,documentation=1") == {"opinions": 0.75, "documentation": 0.25}
    assert parse_mix("documentation") == {"documentation": 1.0}
    for bad, needle in [("opinions=x", "not a number"), ("recipes=1", "not prompt mixes"),
                        ("opinions=0", "not all 0"), ("", "mix")]:
        with pytest.raises(ValueError, match=needle):
            parse_mix(bad)
    from backends.rlhf.prompts import PROMPT_MIXES

    pools = pools_from_mixes([{"opinions": 1.0}, {"opinions": 0.25, "documentation": 0.75}], seed=0, pool_size=8)
    assert len(pools[0]) == 8 and set(pools[0]) <= set(PROMPT_MIXES["opinions"])
    assert sum(p in PROMPT_MIXES["documentation"] for p in pools[1]) == 6
    assert sum(p in PROMPT_MIXES["opinions"] for p in pools[1]) == 2
    assert pools_from_mixes([{"opinions": 1.0}], seed=1) != pools_from_mixes([{"opinions": 1.0}], seed=2)


@pytest.mark.slow
def test_bfloat16_base_on_cpu_keeps_a_float32_adapter_and_trains():
    from backends.rlhf.build import build_task
    from firm_core.federated import client_rngs

    task = build_task(LLMTaskConfig(device="cpu", dtype="bfloat16", group_size=2, prompts_per_step=1,
                                    max_new_tokens=4, eval_samples=2))
    assert next(task.model.base_model.model.parameters()).dtype == torch.bfloat16
    assert task.bytes_per_float == 4  # the adapter (what travels) stays float32
    described = task.describe()["task_config"]
    assert described["dtype"] == "bfloat16" and "device" not in described  # resumable on another device
    x = task.initial_point()
    res = task.local_update([0, 1], x, client_rngs(0, 0, [0, 1]), local_steps=1, lr=1e-2, beta=0.5,
                            preference=np.array([0.5, 0.5]), mode="firm")
    assert res.valid.all(), res.reasons
    assert np.isfinite(res.y).all() and np.abs(res.y - x).max() > 1e-4
