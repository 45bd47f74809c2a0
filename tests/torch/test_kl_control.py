"""KL coefficient controllers: Ziegler et al.'s update, clipping, closed-loop behaviour, checkpointing."""

from __future__ import annotations

import json
import math

import pytest

from backends.rlhf.kl_control import (
    ERROR_CLIP,
    AdaptiveKL,
    FixedKL,
    DEFAULT_KL_TARGET,
    controller_from_dict,
    default_kl_controller,
    make_kl_controller,
)

#: the controller is a product of floats: exact up to round-off
REL_TOL = 1e-12


def test_adaptive_update_follows_the_formula_step_by_step():
    c = AdaptiveKL(0.1, target=2.0, horizon=10)
    # KL / target - 1 = 0.5, clipped to +0.2; n_steps / horizon = 0.5
    assert c.update(3.0, n_steps=5) == pytest.approx(0.1 * (1 + 0.2 * 0.5), rel=REL_TOL)
    # KL / target - 1 = -0.1 (inside the clip); n_steps / horizon = 1
    assert c.update(1.8, n_steps=10) == pytest.approx(0.11 * (1 - 0.1), rel=REL_TOL)
    # on target: unchanged
    assert c.update(2.0, n_steps=7) == pytest.approx(0.099, rel=REL_TOL)
    assert c.updates == 3


@pytest.mark.parametrize("kl, want", [(0.0, -ERROR_CLIP), (-3.0, -ERROR_CLIP), (1e9, ERROR_CLIP),
                                      (2.2, 0.1), (1.9, -0.05)])
def test_error_is_clipped_on_both_sides(kl, want):
    assert AdaptiveKL(1.0, target=2.0, horizon=1).error(kl) == pytest.approx(want, rel=REL_TOL)


def test_adaptive_brings_a_responsive_kl_to_its_target_where_fixed_does_not():
    """Toy plant: the policy settles at KL = 0.5 / coef (a stronger penalty, a smaller KL)."""
    target = 4.0
    fixed, adaptive = FixedKL(0.05), AdaptiveKL(0.05, target=target, horizon=4)
    for _ in range(200):
        fixed.update(0.5 / fixed.value, n_steps=1)
        adaptive.update(0.5 / adaptive.value, n_steps=1)
    assert 0.5 / fixed.value == pytest.approx(10.0)  # twice the target, for ever
    assert abs(0.5 / adaptive.value - target) < 0.05 * target


def test_the_default_controller_settles_a_runaway_kl_within_ten_rounds():
    """Toy plant where the old fixed 0.05 gives KL = 20 nats: KL = 1 / coef."""
    ctl = default_kl_controller()
    kls = []
    for _ in range(40):
        kls.append(1.0 / ctl.value)
        ctl.update(kls[-1], n_steps=1)
    assert max(kls) <= kls[0] and all(abs(k - DEFAULT_KL_TARGET) < 0.1 * DEFAULT_KL_TARGET for k in kls[10:])


def test_checkpoint_and_resume_reproduce_the_uninterrupted_run():
    kls = [5.0, 7.5, 3.1, 0.4, 2.2, 9.0, 4.0, 1.0]
    whole = AdaptiveKL(0.05, target=3.0, horizon=6)
    for kl in kls:
        whole.update(kl, n_steps=2)
    first = AdaptiveKL(0.05, target=3.0, horizon=6)
    for kl in kls[:3]:
        first.update(kl, n_steps=2)
    resumed = controller_from_dict(json.loads(json.dumps(first.to_dict())))
    assert isinstance(resumed, AdaptiveKL) and resumed.updates == 3
    for kl in kls[3:]:
        resumed.update(kl, n_steps=2)
    assert resumed.to_dict() == whole.to_dict()
    fixed = controller_from_dict(json.loads(json.dumps(FixedKL(0.2).to_dict())))
    assert isinstance(fixed, FixedKL) and fixed.update(50.0, 3) == 0.2


def test_make_kl_controller_picks_the_kind():
    assert make_kl_controller(0.05) == FixedKL(0.05)
    assert make_kl_controller(0.05, target=6.0, horizon=10) == AdaptiveKL(0.05, 6.0, 10)
    with pytest.raises(ValueError, match="needs a `horizon`"):
        make_kl_controller(0.05, target=6.0)
    with pytest.raises(ValueError, match="only used with a KL `target`"):
        make_kl_controller(0.05, horizon=10)


@pytest.mark.parametrize("make, match", [
    (lambda: FixedKL(-0.1), "`value` must be >= 0, got -0.1"),
    (lambda: FixedKL(math.nan), "`value` must be finite"),
    (lambda: AdaptiveKL(0.0, 1.0, 1.0), "`value` must be > 0, got 0.0"),
    (lambda: AdaptiveKL(0.1, -1.0, 1.0), "`target` must be > 0, got -1.0"),
    (lambda: AdaptiveKL(0.1, 1.0, 0.0), "`horizon` must be > 0, got 0.0"),
    (lambda: AdaptiveKL(0.1, 1.0, 1.0, updates=-1), "`updates` must be an integer >= 0"),
])
def test_bad_construction_is_rejected(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_updates_are_rejected_and_leave_the_state_alone():
    c = AdaptiveKL(0.1, target=1.0, horizon=2)
    with pytest.raises(ValueError, match="`kl` must be finite, got nan"):
        c.update(math.nan)
    with pytest.raises(ValueError, match="`n_steps` must be >= 0, got -1"):
        c.update(1.0, n_steps=-1)
    with pytest.raises(ValueError, match=r"`n_steps` must be < horizon / 0.2 = 10"):
        c.update(1.0, n_steps=10)
    with pytest.raises(TypeError, match="`n_steps` must be an integer, got float"):
        c.update(1.0, n_steps=1.5)
    with pytest.raises(TypeError, match="`kl` must be a real number, got str"):
        c.update("3")
    assert c.to_dict() == AdaptiveKL(0.1, target=1.0, horizon=2).to_dict()
    with pytest.raises(ValueError, match="`kl` must be finite"):
        FixedKL(0.1).update(math.inf)


def test_bad_states_are_rejected():
    with pytest.raises(ValueError, match="`kind` must be one of"):
        controller_from_dict({"kind": "pid", "value": 1.0})
    with pytest.raises(TypeError, match="must be a dict, got list"):
        controller_from_dict([1.0])
    with pytest.raises(ValueError, match="`kind` must be 'adaptive', got 'fixed'"):
        AdaptiveKL.from_dict(FixedKL(0.1).to_dict())
