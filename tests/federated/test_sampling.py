"""Client sampling: the expected server update under partial participation is the full-participation update."""

import itertools

import numpy as np
import pytest

from firm_core.federated import AlgorithmConfig, make_algorithm, sample_participants, sample_round
from tests.federated._problems import ScalarQuadratic

#: Unequal client weights: the case where uniform sampling is biased.
WEIGHTS = np.array([0.7, 0.1, 0.1, 0.1])
#: Seeds averaged over in the expectation test.
NUM_SEEDS = 2000
#: The mean step over seeds passes when every coordinate is within this many standard errors of the
#: full-participation step (the seeds are fixed, so the test is deterministic; under the null
#: hypothesis a z-score above 4.5 has probability < 1e-5 per coordinate).
Z_TOL = 4.5
#: Exact identities (the enumeration of all draws).
EXACT_TOL = 1e-15


def _problem():
    """Four clients whose FedAvg-LS updates point in clearly different directions (client 0: +x)."""
    c = np.array([[[4.0, 0.0]], [[-4.0, 0.0]], [[0.0, 4.0]], [[0.0, -4.0]]])  # (N, M = 1, d = 2)
    return ScalarQuadratic(np.ones((4, 1)), c, weights=WEIGHTS, x0=np.array([0.0, 0.0]))


def _one_round_steps(problem, participation):
    """x_1 - x_0 of one FedAvg-LS round for seeds 0 .. NUM_SEEDS - 1 (each seed samples anew)."""
    algo = make_algorithm(AlgorithmConfig(name="fedavg_ls", local_steps=2, lr=0.2, participation=participation))
    start = algo.init(problem)
    steps = []
    for seed in range(NUM_SEEDS):
        state = start._replace(seed=seed)  # the state carries the seed that all sampling derives from
        new, _ = algo.step(problem, state)
        steps.append(new.x - state.x)
    return np.array(steps)


def _z_scores(steps, full_step):
    """|mean - full| / standard error, per coordinate."""
    se = steps.std(axis=0, ddof=1) / np.sqrt(len(steps))
    return np.abs(steps.mean(axis=0) - full_step) / se


def _old_uniform_steps(client_steps, participation):
    """What the former scheme did: S clients uniformly without replacement, weights w renormalized."""
    n = len(WEIGHTS)
    out = []
    for seed in range(NUM_SEEDS):
        ids = np.sort(np.random.default_rng([seed, 0, 0, 1]).choice(n, size=participation, replace=False))
        w = WEIGHTS[ids] / WEIGHTS[ids].sum()
        out.append(w @ client_steps[ids])
    return np.array(out)


def test_expected_partial_participation_step_is_the_full_step():
    problem = _problem()
    full_algo = make_algorithm(AlgorithmConfig(name="fedavg_ls", local_steps=2, lr=0.2, seed=0))
    s0 = full_algo.init(problem)
    full_step = full_algo.step(problem, s0)[0].x - s0.x
    steps = _one_round_steps(problem, participation=1)
    z = _z_scores(steps, full_step)
    assert np.all(z <= Z_TOL), f"z-scores {z} (mean {steps.mean(axis=0)}, full {full_step})"
    # the check has teeth: the former uniform scheme (expected step = the uniform-weight step) fails it
    client_steps = np.array([0.36 * (problem._c[i, 0] - s0.x) for i in range(4)])  # y_i - x = (1 - 0.8^2)(c_i - x)
    np.testing.assert_allclose(WEIGHTS @ client_steps, full_step, rtol=0, atol=1e-12)
    old = _old_uniform_steps(client_steps, participation=1)
    assert np.max(_z_scores(old, full_step)) > 5 * Z_TOL  # measured 37


def test_expected_aggregation_weights_are_the_client_weights_exactly():
    """Enumerating every sequence of S draws: E[counts_i / S] = w_i."""
    n, s = len(WEIGHTS), 3
    expected = np.zeros(n)
    for seq in itertools.product(range(n), repeat=s):
        prob = np.prod(WEIGHTS[list(seq)])
        expected += prob * np.bincount(seq, minlength=n) / s
    np.testing.assert_allclose(expected, WEIGHTS, rtol=0, atol=EXACT_TOL)


def test_sample_round_is_the_documented_formula():
    w = np.array([0.05, 0.5, 0.2, 0.25, 0.0])
    seen_repeat = False
    for t in range(30):
        ids, agg = sample_round(7, t, w, 3)
        draws = np.random.default_rng([7, t, 0, 1]).choice(5, size=3, replace=True, p=w / w.sum())
        want_ids, counts = np.unique(draws, return_counts=True)
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_array_equal(agg, counts / 3)
        assert 4 not in ids  # weight 0: never drawn
        seen_repeat |= bool(counts.max() > 1)
    assert seen_repeat  # a client drawn twice counts twice


def test_full_participation_takes_everyone_with_normalized_weights():
    w = np.array([2.0, 1.0, 1.0])
    for s in (None, 3, 5):
        ids, agg = sample_round(0, 4, w, s)
        np.testing.assert_array_equal(ids, [0, 1, 2])
        np.testing.assert_allclose(agg, [0.5, 0.25, 0.25], rtol=0, atol=EXACT_TOL)
    np.testing.assert_array_equal(sample_round(0, 0, np.zeros(2), None)[1], [0.0, 0.0])  # the round is skipped


@pytest.mark.parametrize(
    "weights, participation, match",
    [
        ([0.5, -0.5, 1.0], 1, "`weights`"),
        ([0.5, np.nan], 1, "`weights`"),
        ([[0.5, 0.5]], 1, "`weights`"),
        ([0.0, 0.0, 0.0], 2, "`weights` must have a positive sum"),
        ([0.5, 0.5], 0, "`participation`.*got 0"),
    ],
)
def test_sample_round_rejects_bad_arguments(weights, participation, match):
    with pytest.raises(ValueError, match=match):
        sample_round(0, 0, weights, participation)


@pytest.mark.parametrize("participation", [True, 1.5, "2"])
def test_sample_round_rejects_a_participation_of_the_wrong_type(participation):
    with pytest.raises(TypeError, match="`participation`.*of type"):
        sample_round(0, 0, [0.5, 0.5], participation)


def test_sample_participants_keeps_its_signature():
    ids = sample_participants(1, 2, 10, 4)
    assert np.array_equal(ids, sample_round(1, 2, np.full(10, 0.1), 4)[0])
    with pytest.raises(ValueError, match="`weights` must have shape \\(10,\\)"):
        sample_participants(1, 2, 10, 4, weights=np.ones(3))
