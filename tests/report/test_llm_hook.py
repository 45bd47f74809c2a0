"""The LLM section says "not run" until a provider is registered, then reports the provider's numbers."""

from __future__ import annotations

import pytest

from firm.report import llm
from firm.report import verdicts as vd
from firm.report.config import SuiteConfig
from firm.report.render import render_report


@pytest.fixture(autouse=True)
def no_provider():
    llm.register_llm_provider(None)
    yield
    llm.register_llm_provider(None)


def _results(section):
    return {"config": SuiteConfig.make(True).to_dict(), "sections": {"llm": section}, "timing": {}}


def test_without_provider_the_section_is_not_run():
    sec = llm.run_llm_section(SuiteConfig.make(True), False)
    assert sec["status"] == "not run" and sec["verdict"]["verdict"] == vd.NOT_RUN
    text = render_report(_results(sec))
    assert "**Not run.**" in text and "| LLM task (all claims) | not run |" in text


def test_a_registered_provider_fills_the_section():
    seen = []

    def provider(config, progress):
        seen.append(config.quick)
        return {"rewards_per_preference": {"firm": [[0.5, 0.2, 0.7]]},
                "verdict": {"verdict": vd.CONDITIONAL, "line": "**holds with conditions**: measured."}}

    llm.register_llm_provider(provider)
    sec = llm.run_llm_section(SuiteConfig.make(True), False)
    assert seen == [True] and sec["status"] == "run" and sec["rewards_per_preference"]["firm"] == [[0.5, 0.2, 0.7]]
    text = render_report(_results(sec))
    assert "rewards_per_preference" in text and "Not run" not in text


def test_register_rejects_a_non_callable():
    with pytest.raises(TypeError, match="fn"):
        llm.register_llm_provider("not a function")
