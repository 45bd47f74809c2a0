"""The LLM section: how a provider is found, and the scoring of its runs on hand-made blocks whose
answers are known (each check is also fed a block that must fail it)."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from firm.report import llm
from firm.report import verdicts as vd
from firm.report.config import SuiteConfig
from firm.report.render import render_report

ALGOS = ("firm", "local_mgda", "fedavg_ls", "fmgda", "fsmgda", "fedcmoo")
PREFS = [[0.8, 0.2], [0.5, 0.5], [0.2, 0.8]]
D = 100  # adapter parameters of the hand-made block


@pytest.fixture(autouse=True)
def default_provider(monkeypatch):
    monkeypatch.setattr(llm, "_PROVIDER", llm._DISCOVER)  # each test starts from discovery, and ends there


def _run(algo, seed, pref, *, final, train, lam=None, d_lambda=0.01, d_x=0.1, per_client=4 * D):
    rounds = len(train)
    lam = lam if lam is not None else [pref] * rounds
    return {"algorithm": algo, "seed": seed, "preference": pref, "status": "completed", "train_rewards": train,
            "train_kl": [0.0] * rounds, "lambda_mean": lam, "d_lambda": [d_lambda] * rounds, "d_x": [d_x] * rounds,
            "uplink_bytes": [2 * per_client] * rounds, "clients": [2] * rounds, "final_rewards": final,
            "final_kl": 0.1, "seconds": 1.0}


def make_block(seeds=(0, 1)):
    """FIRM follows p (r_1 rises with p_1, lambda_1 too), trains smoothly and reaches the target first;
    the baselines read no preference except FedAvg-LS, which ignores it in its rewards."""
    runs = []
    smooth = [[0.1, 0.5], [0.2, 0.6], [0.3, 0.7]]
    bumpy = [[0.1, 0.5], [0.3, 0.4], [0.2, 0.6]]
    slow = [[0.1, 0.5], [0.1, 0.5], [0.2, 0.6]]
    for s in seeds:
        for p in PREFS:
            runs.append(_run("firm", s, p, final=[0.2 + 0.5 * p[0], 0.9 - 0.5 * p[0]], train=smooth,
                             lam=[[0.5 * p[0] + 0.25, 0.75 - 0.5 * p[0]]] * 3, d_lambda=0.001, d_x=0.05))
            runs.append(_run("fedavg_ls", s, p, final=[0.4, 0.6], train=bumpy, d_lambda=0.0, d_x=0.2))
        u = [0.5, 0.5]
        runs.append(_run("local_mgda", s, u, final=[0.3, 0.5], train=bumpy, d_lambda=0.02, d_x=0.2))
        runs.append(_run("fmgda", s, u, final=[0.3, 0.5], train=slow, d_lambda=float("nan"), d_x=0.2,
                         per_client=8 * D))
        runs.append(_run("fsmgda", s, u, final=[0.3, 0.5], train=slow, d_lambda=float("nan"), d_x=0.2,
                         per_client=8 * D))
        runs.append(_run("fedcmoo", s, u, final=[0.3, 0.5], train=bumpy, d_lambda=0.0, d_x=0.2,
                         per_client=4 * D + 40))
    up = {"adapter_params": D, "firm": 4 * D + 60, "local_mgda": 4 * D + 60, "fedavg_ls": 4 * D + 60,
          "fmgda": 8 * D + 100, "fsmgda": 8 * D + 100, "fedcmoo": 4 * D + 200}
    suite = {"label": "toy", "model": "tiny", "seeds": list(seeds), "rounds": 3, "local_steps": 1, "lr": 0.01,
             "firm_beta": 0.5, "preferences": PREFS, "algorithms": list(ALGOS), "num_clients": 2,
             "prompts_per_step": 2, "group_size": 4, "max_new_tokens": 8, "eval_samples": 2}
    return {"suite": suite, "runs": runs, "objectives": ["on_topic", "harmless"], "serialized_upload": up,
            "initial": {"rewards": [0.1, 0.4], "kl": 0.0}, "eval_prompts": 12, "torch_threads": 1,
            "build_seconds": 0.1, "run_seconds": 10.0}


def test_a_firm_that_wins_everywhere_holds_on_every_claim():
    sc = llm.score_block("toy", make_block())
    assert {c: v["verdict"] for c, v in sc["verdicts"].items()} == {c: vd.HOLDS for c in llm.CLAIMS}
    st = sc["stats"]
    # normalization over the final points and x_0: on_topic spans 0.1 (x_0) .. 0.6 (FIRM at p_1 = 0.8)
    np.testing.assert_allclose(st["firm"]["final_by_preference"][0], [(0.6 - 0.1) / 0.5, (0.5 - 0.4) / 0.4])
    assert st["firm"]["oscillation"]["median"] == 0.0
    assert st["fedavg_ls"]["oscillation"]["median"] == pytest.approx(0.2 + 0.2)  # each objective: TV 0.3 - net 0.1
    assert st["firm"]["reads_preference"] and not st["fmgda"]["reads_preference"]
    f = sc["following"]["firm"]
    assert f["monotone"] == 1.0 and f["lambda_monotone"] == 1.0 and f["coverage"] == pytest.approx(0.6)
    # D_lambda is compared with Local-MGDA alone (the others have no per-client lambda or share one)
    assert [c["baseline"] for c in sc["comparisons"]["drift"] if c["metric"] == "mean D_lambda"] == ["Local-MGDA"]


def test_uplink_to_target_counts_serialized_bytes_until_the_first_round_at_the_target():
    block = make_block()
    norm = llm.normalizer(block)
    target, out = llm.uplink_to_target(block, norm, ALGOS)
    # the slowest median best is FMGDA's last round, normalized (0.2, 0.6) -> mean of (0.2, 0.5) = 0.35
    assert target == pytest.approx(0.35)
    per_round = 2 * block["serialized_upload"]["firm"]  # two clients each round
    assert out["firm"]["median"] == pytest.approx(2 * per_round)  # FIRM's (0.2, 0.6) comes in round 2
    assert out["fmgda"]["median"] == pytest.approx(3 * 2 * block["serialized_upload"]["fmgda"])


def test_each_claim_fails_when_firm_loses_it():
    block = make_block()
    for r in block["runs"]:
        if r["algorithm"] == "firm":
            r["train_rewards"] = [[0.1, 0.5], [0.4, 0.2], [0.1, 0.8]]  # oscillates
            r["d_x"] = [1.0] * 3
            r["d_lambda"] = [0.5] * 3
            r["final_rewards"] = [0.15, 0.45]  # dominated by every baseline
    block["serialized_upload"]["firm"] = 10 * D
    sc = llm.score_block("toy", block)
    for claim in ("dynamics", "drift", "tradeoffs"):
        assert sc["verdicts"][claim]["verdict"] == vd.FAILS, claim
    assert sc["verdicts"]["communication"]["verdict"] != vd.HOLDS


def test_requirements_catch_a_firm_that_uploads_more_than_one_adapter_or_ignores_p():
    block = make_block()
    for r in block["runs"]:
        if r["algorithm"] == "firm":
            r["uplink_bytes"] = [2 * 8 * D] * 3  # two adapters per client
            r["lambda_mean"] = [[0.5, 0.5]] * 3  # lambda does not move with p
    sc = llm.score_block("toy", block)
    assert sc["requirements"]["communication"] == [["FIRM uploads one adapter per client-round", False]]
    assert sc["requirements"]["preference"] == [["FIRM's lambda_1 follows p_1", False]]
    assert sc["verdicts"]["communication"]["verdict"] == vd.CONDITIONAL
    assert sc["verdicts"]["preference"]["verdict"] == vd.CONDITIONAL


def test_the_section_verdict_is_the_last_blocks_and_the_render_shows_every_block():
    good, bad = make_block(), make_block()
    for r in bad["runs"]:
        if r["algorithm"] == "firm":
            r["final_rewards"] = [0.15, 0.45]
    sec = llm.score_llm({"blocks": {"good": good, "bad": bad}, "skipped": {"big": "not installed"}, "seconds": 1.0})
    assert sec["main_block"] == "bad"
    assert sec["verdict"]["verdict"] == vd.comparative_verdict(
        [vd.Comparison(**{k: c[k] for k in ("metric", "setting", "baseline", "firm", "other", "lower_is_better")})
         for cs in sec["blocks"]["bad"]["scores"]["comparisons"].values() for c in cs])["verdict"]
    assert sec["verdict"]["verdict"] != vd.HOLDS
    text = render_report({"config": SuiteConfig.make(True).to_dict(), "sections": {"llm": sec}, "timing": {}})
    assert "**LLM good**" in text and "**LLM bad**" in text and "**LLM big**: not run (not installed)" in text


def test_a_registered_provider_is_called_with_the_suite_and_the_folder(tmp_path):
    seen = []

    def provider(quick, progress, workdir):
        seen.append((quick, workdir))
        return {"blocks": {"toy": make_block()}, "seconds": 2.0}

    llm.register_llm_provider(provider)
    sec = llm.run_llm_section(SuiteConfig.make(True), False, tmp_path)
    assert seen == [(True, tmp_path)] and sec["status"] == "run" and sec["main_block"] == "toy"


def test_no_provider_or_a_suite_without_the_llm_is_not_run(tmp_path):
    llm.register_llm_provider(None)
    sec = llm.run_llm_section(SuiteConfig.make(True), False, tmp_path)
    assert sec["status"] == "not run" and sec["verdict"]["verdict"] == vd.NOT_RUN
    assert "pip install 'firm[torch,align]'" in sec["verdict"]["line"]
    llm.register_llm_provider(lambda *a: pytest.fail("the provider must not run"))
    off = llm.run_llm_section(dataclasses.replace(SuiteConfig.make(True), llm=False), False, tmp_path)
    assert off["status"] == "not run" and "switched off" in off["verdict"]["line"]
    text = render_report({"config": SuiteConfig.make(True).to_dict(), "sections": {"llm": off}, "timing": {}})
    assert "**Not run**" in text and "| LLM task (all claims) | not run |" in text


def test_discovery_names_the_extra_when_the_backend_cannot_import(monkeypatch):
    class BrokenEntryPoint:
        name = llm.ENTRY_POINT_NAME

        def load(self):
            raise ImportError("the RLHF backend needs torch")

    monkeypatch.setattr("importlib.metadata.entry_points", lambda group: [BrokenEntryPoint()])
    provider, why = llm._discover()
    assert provider is None and "torch" in why
    monkeypatch.setattr("importlib.metadata.entry_points", lambda group: [])
    assert llm._discover() == (None, "no LLM backend is installed")


def test_the_installed_entry_point_is_the_rlhf_backends_runs():
    pytest.importorskip("torch")
    pytest.importorskip("profanity_check")
    provider, why = llm._discover()
    assert why == "" and provider.__module__ == "backends.rlhf.report_runs"


def test_register_rejects_a_non_callable():
    with pytest.raises(TypeError, match="fn"):
        llm.register_llm_provider("not a function")


def test_a_block_with_no_finite_final_point_scores_nan_not_a_crash():
    block = copy.deepcopy(make_block())
    for r in block["runs"]:
        if r["algorithm"] == "fsmgda":
            r["final_rewards"] = [float("nan"), float("nan")]
    sc = llm.score_block("toy", block)
    assert np.isnan(sc["stats"]["fsmgda"]["hypervolume"]["median"])
    assert np.isfinite(sc["stats"]["firm"]["hypervolume"]["median"])


def test_a_reward_that_does_not_move_normalizes_to_zero_not_to_round_off():
    # means over samples summed in different orders differ in the last bits: that is no spread
    norm = llm.range_normalizer([[1 / 144, 0.2], [1 / 144 + 1e-18, 0.6], [1 / 144, 0.4]])
    np.testing.assert_allclose(norm([1 / 144 + 1e-18, 0.5]), [0.0, 0.75])
    np.testing.assert_allclose(llm.range_normalizer([[0.0], [1e-6]])([1e-6]), [1.0])  # a real spread stays
