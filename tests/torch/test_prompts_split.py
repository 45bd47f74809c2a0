"""Splitting prompts across clients: i.i.d., Dirichlet quantity skew, by column, Dirichlet label skew."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from backends.rlhf.prompts import split_prompts

PROMPTS = [f"prompt {i}" for i in range(60)]
LABELS = ["safety" if i % 3 == 0 else "helpfulness" if i % 3 == 1 else "coding" for i in range(60)]
LABEL_OF = dict(zip(PROMPTS, LABELS, strict=True))


def assert_partition(pools, prompts):
    """Every prompt in exactly one pool, no pool empty."""
    assert all(pools), [len(p) for p in pools]
    assert Counter(p for pool in pools for p in pool) == Counter(prompts)


def test_assert_partition_rejects_lost_duplicated_and_empty_pools():
    for bad in ([PROMPTS[:30], PROMPTS[31:]], [PROMPTS[:31], PROMPTS[30:]], [PROMPTS, []]):
        with pytest.raises(AssertionError):
            assert_partition(bad, PROMPTS)


def max_label_share(pools) -> float:
    """Mean over clients of the share of a client's prompts that carry its most common label."""
    return float(np.mean([Counter(LABEL_OF[p] for p in pool).most_common(1)[0][1] / len(pool) for pool in pools]))


@pytest.mark.parametrize("kwargs", [{}, {"alpha": 0.5}, {"column_values": LABELS},
                                    {"alpha": 1.0, "column_values": LABELS}])
@pytest.mark.parametrize("n_clients", [1, 2, 3])
def test_every_split_is_a_partition_and_deterministic(kwargs, n_clients):
    pools = split_prompts(PROMPTS, n_clients, seed=7, **kwargs)
    assert len(pools) == n_clients
    assert_partition(pools, PROMPTS)
    assert pools == split_prompts(PROMPTS, n_clients, seed=7, **kwargs)


def test_iid_split_has_sizes_within_one_and_depends_on_the_seed():
    pools = split_prompts(PROMPTS, 7, seed=0)
    sizes = [len(p) for p in pools]
    assert max(sizes) - min(sizes) <= 1
    assert pools != split_prompts(PROMPTS, 7, seed=1)


def test_column_split_gives_each_client_whole_groups():
    pools = split_prompts(PROMPTS, 3, column_values=LABELS)
    assert [sorted({LABEL_OF[p] for p in pool}) for pool in pools] == [["coding"], ["helpfulness"], ["safety"]]
    two = split_prompts(PROMPTS, 2, column_values=LABELS)  # sorted values dealt in turn: coding+safety, helpfulness
    assert [sorted({LABEL_OF[p] for p in pool}) for pool in two] == [["coding", "safety"], ["helpfulness"]]
    with pytest.raises(ValueError, match=r"`num_clients` \(4\) is more than the 3 distinct column values"):
        split_prompts(PROMPTS, 4, column_values=LABELS)


def test_dirichlet_quantity_skew_grows_as_alpha_shrinks():
    def size_spread(alpha):
        return np.mean([np.std([len(p) for p in split_prompts(PROMPTS, 4, alpha=alpha, seed=s)]) for s in range(30)])

    assert size_spread(0.1) > 3 * size_spread(100.0)


def test_dirichlet_label_skew_concentrates_labels_for_small_alpha():
    small = np.mean([max_label_share(split_prompts(PROMPTS, 3, alpha=0.05, column_values=LABELS, seed=s))
                     for s in range(20)])
    large = np.mean([max_label_share(split_prompts(PROMPTS, 3, alpha=1000.0, column_values=LABELS, seed=s))
                     for s in range(20)])
    assert small > 0.85  # mostly one label per client
    assert large < 0.5  # near the i.i.d. share of 1/3 (plus sampling noise)


@pytest.mark.parametrize("args, kwargs, err, match", [
    ((PROMPTS, 0), {}, ValueError, r"`num_clients` must be between 1 and the number of prompts \(60\), got 0"),
    ((PROMPTS, 61), {}, ValueError, "got 61"),
    ((PROMPTS, 2.0), {}, TypeError, "`num_clients` must be an integer, got float"),
    ((PROMPTS, 2), {"alpha": 0.0}, ValueError, "`alpha` must be a finite number > 0, got 0.0"),
    ((PROMPTS, 2), {"alpha": float("inf")}, ValueError, "`alpha` must be a finite number > 0"),
    ((PROMPTS, 2), {"column_values": LABELS[:5]}, ValueError, "`column_values` has 5 entries for 60 prompts"),
])
def test_bad_split_arguments(args, kwargs, err, match):
    with pytest.raises(err, match=match):
        split_prompts(*args, **kwargs)


def test_impossible_label_skew_says_which_knob_to_turn():
    # 3 prompts, 3 clients, tiny alpha: a draw giving each client one prompt is astronomically unlikely
    with pytest.raises(ValueError, match="use a larger alpha or fewer clients"):
        split_prompts(["a", "b", "c"], 3, alpha=1e-6, column_values=["x", "x", "x"], seed=0)
