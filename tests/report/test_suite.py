"""The report machinery on a tiny suite: determinism, resume after an interruption, rendering, docs page,
and the quick suite end to end through the CLI."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
from click.testing import CliRunner

from firm.cli import main
from firm.report import read_results, run_report, run_sections, sections, store
from firm.report import verdicts as vd
from firm.report.config import SuiteConfig

TINY = SuiteConfig(quick=True, seeds=(0, 1), rounds=4, lr_grid=(0.05, 0.1), sweep_points=2, betas=(0.0, 1.0),
                   heterogeneity=(1.0,), preference_heterogeneity=(1.0,), problems=("quadratics",), llm=False)
#: The quick suite's budget: CPU seconds of the whole `firm report --quick` (imports included).
QUICK_CPU_S = 60
CLAIM_SECTIONS = ("dynamics", "drift", "tradeoffs", "preference", "communication", "convergence", "llm")


def fake_theory(progress=False):
    """A theory summary of the adapter's shape (the real suite runs in the quick end-to-end test)."""
    return {"ok": True, "seconds": 0.0, "checks": [{"group": "g", "name": "bound", "ok": True, "ratio": 0.5,
                                                    "count": 3, "kind": "certified"}],
            "kinds": {"certified": [1, 1]}, "liveness_ok": 1, "liveness_total": 1}


@pytest.fixture
def tiny_theory(monkeypatch):
    monkeypatch.setattr("firm.report.convergence.theory_summary", fake_theory)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setattr("firm.report.convergence.theory_summary", fake_theory)
    try:
        results, _ = run_sections(tmp_path_factory.mktemp("ref"), TINY, progress=False, log=lambda s: None)
    finally:
        mp.undo()
    return results


def saved_reference(reference, folder):
    """A results folder holding the reference results (a finished suite that the next call resumes)."""
    store.save(folder, reference)
    return folder


def test_every_section_has_a_computed_verdict(reference):
    s = reference["sections"]
    assert list(s) == list(sections.SECTIONS)
    for name in CLAIM_SECTIONS:
        assert s[name]["verdict"]["verdict"] in vd.VERDICTS
    assert s["llm"]["verdict"]["verdict"] == vd.NOT_RUN
    assert s["communication"]["records_agree"] is True and s["communication"]["firm_one_vector"] is True
    # the verdict is the rule applied to the stored comparisons
    comps = [vd.Comparison(**{k: c[k] for k in ("metric", "setting", "baseline", "firm", "other", "lower_is_better")})
             for c in s["tradeoffs"]["comparisons"]]
    assert vd.comparative_verdict(comps)["verdict"] == s["tradeoffs"]["verdict"]["verdict"]
    # FIRM across beta at the suite's beta repeats the trade-off sweep's FIRM runs exactly
    same = s["beta_sensitivity"]["problems"]["quadratics"][str(TINY.firm_beta)]
    assert same["hypervolume"] == s["tradeoffs"]["problems"]["quadratics"]["algorithms"]["firm"]["hypervolume"]
    other = s["beta_sensitivity"]["problems"]["quadratics"]["0.0"]
    assert other["hypervolume"] != same["hypervolume"]
    tuned = s["tuning"]["choice"]["quadratics"]
    assert set(tuned) == set(TINY.algorithms) and all(v["lr"] in TINY.lr_grid for v in tuned.values())


@pytest.mark.slow
def test_rerun_gives_the_same_numbers(reference, tmp_path, tiny_theory):
    again, _ = run_sections(tmp_path, TINY, progress=False, log=lambda s: None)
    assert again["sections"] == reference["sections"]


@pytest.mark.slow
def test_interrupted_suite_resumes_where_it_stopped(reference, tmp_path, monkeypatch, tiny_theory):
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(sections, "tradeoffs", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_sections(tmp_path, TINY, progress=False, log=lambda s: None)
    saved = read_results(tmp_path)
    assert list(saved["sections"]) == ["tuning", "dynamics", "drift"]
    monkeypatch.undo()
    monkeypatch.setattr("firm.report.convergence.theory_summary", fake_theory)

    def must_not_rerun(*a, **k):
        raise AssertionError("a finished section ran again")

    for name in ("tuning", "dynamics", "drift"):
        monkeypatch.setattr(sections, name, must_not_rerun)
    notes = []
    resumed, note = run_sections(tmp_path, TINY, progress=False, log=notes.append)
    assert "3 section(s) already done" in note
    assert resumed["sections"] == reference["sections"]


def test_another_configuration_starts_afresh(reference, tmp_path, monkeypatch):
    saved_reference(reference, tmp_path)
    calls = []
    for name in sections.SECTIONS:
        monkeypatch.setattr(sections, name, lambda *a, name=name, **kw: calls.append(name) or {})
    _, note = run_sections(tmp_path, dataclasses.replace(TINY, rounds=3), progress=False, log=lambda s: None)
    assert "another suite configuration" in note and calls == list(sections.SECTIONS)
    calls.clear()
    _, note = run_sections(tmp_path, dataclasses.replace(TINY, rounds=3), progress=False, log=lambda s: None)
    assert "already done" in note and calls == []


@pytest.mark.slow
def test_report_and_docs_page(reference, tmp_path):
    page = tmp_path / "docs" / "results.md"
    page.parent.mkdir()
    out = run_report(saved_reference(reference, tmp_path / "out"), config=TINY, progress=False, docs_page=page,
                     log=lambda s: None)
    text = out.report_path.read_text()
    assert text.count("Verdict: **") == len(CLAIM_SECTIONS)
    assert "## Summary" in text and "figures/dynamics.png" in text
    for f in out.figures:
        assert f.stat().st_size > 10_000
        assert (tmp_path / "docs" / "results" / f.name).is_file()
    assert "results/tradeoffs.png" in page.read_text()
    assert read_results(tmp_path / "docs" / "results")["sections"] == out.results["sections"]


def test_cli_rejects_conflicting_docs_options(tmp_path):
    res = CliRunner().invoke(main, ["report", "--out", str(tmp_path), "--no-docs", "--docs-page", "x.md"])
    assert res.exit_code == 2 and "--no-docs" in res.output and "Traceback" not in res.output


def _llm_stack() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers", "peft", "profanity_check"))


@pytest.mark.slow
def test_quick_report_end_to_end(tmp_path):
    if _llm_stack():  # the one-time build of the offline tiny model (cached afterwards) is not the report's time
        from backends.rlhf.policy import load_base

        load_base("tiny")
    start = time.process_time()
    wall = time.perf_counter()
    res = CliRunner().invoke(main, ["report", "--quick", "--out", str(tmp_path), "--no-docs", "--no-progress"])
    cpu, wall = time.process_time() - start, time.perf_counter() - wall
    assert res.exit_code == 0, res.output
    assert cpu < QUICK_CPU_S, f"quick report took {cpu:.1f} s of CPU ({wall:.1f} s wall)"
    data = json.loads((tmp_path / "results.json").read_text())
    conv = data["sections"]["convergence"]["summary"]
    assert len(conv["checks"]) > 0 and conv["liveness_total"] > 0
    for name in CLAIM_SECTIONS:
        assert f"{name:<14} {data['sections'][name]['verdict']['verdict']}" in res.output
    assert (tmp_path / "report.md").read_text().count("Verdict: **") == len(CLAIM_SECTIONS)
    llm = data["sections"]["llm"]
    if not _llm_stack():
        assert llm["status"] == "not run" and "firm[torch,align]" in llm["verdict"]["line"]
        return
    assert len(list((tmp_path / "figures").glob("*.png"))) == 6  # the five toy figures and the LLM's
    assert llm["status"] == "run" and llm["main_block"] == "tiny"
    block = llm["blocks"]["tiny"]
    assert {r["algorithm"] for r in block["runs"]} == set(data["config"]["algorithms"])
    firm_upload = block["scores"]["stats"]["firm"]["bytes_per_client_round"]
    assert block["scores"]["stats"]["fmgda"]["bytes_per_client_round"] > 1.9 * firm_upload  # M = 2 adapters
    assert (tmp_path / "llm_runs.json").is_file()
