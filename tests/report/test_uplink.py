"""Uplink bytes measured from serialized messages agree with the engine's records, per algorithm."""

from __future__ import annotations

import numpy as np
import pytest

from firm.report.uplink import UplinkRecorder, serialized_size
from firm_core.federated import ALGORITHMS, AlgorithmConfig, ClientTask, RunConfig, run
from firm_core.problems import make_problem

#: np.save's header for a small float64 array (format 1.0 pads the header to 128 bytes).
NPY_HEADER = 128


def test_serialized_size_counts_headers_and_payload():
    a, b = np.arange(5.0), np.ones((2, 3))
    total, payload = serialized_size([a, b])
    assert payload == a.nbytes + b.nbytes == 88
    assert total == payload + 2 * NPY_HEADER


def _problem():
    w = np.array([0.1, 0.2, 0.3, 0.4])
    return make_problem("quadratics", num_clients=4, num_objectives=3, dim=6, noise_std=0.1, client_weights=w)


@pytest.mark.parametrize(("name", "variant"), [(n, "official") for n in ALGORITHMS] + [("fedcmoo", "exact_lambda")])
def test_recorder_agrees_with_records_and_leaves_the_run_unchanged(name, variant):
    problem = _problem()
    extra = {"fedcmoo_variant": variant} if name == "fedcmoo" else {}
    cfg = AlgorithmConfig(name=name, local_steps=2, seed=3, participation=3,
                          sketch_rank=2 if name == "fedcmoo" else 1, **extra)
    rec = UplinkRecorder(problem, sketch_rank=cfg.sketch_rank, fedcmoo_variant=cfg.fedcmoo_variant)
    assert isinstance(rec, ClientTask)
    logs = []
    h = run(rec, cfg, RunConfig(rounds=4), progress=lambda r, t: logs.append((r.uplink_bytes, r.participants) +
                                                                               rec.close_round()))
    plain = run(problem, cfg, RunConfig(rounds=4))
    assert h.final_point["x"] == plain.final_point["x"]
    m, d = 3, 6
    per_message = {"fmgda": m * d * 8, "fsmgda": m * d * 8}.get(name, d * 8)
    for record_bytes, parts, total, payload, messages in logs:
        assert payload == record_bytes
        if name == "fedcmoo" and variant == "exact_lambda":  # a rank-2 sketch (M x 2, 2 x d), then y_i
            assert messages == 2 * len(parts) and payload == len(parts) * (2 * (m + d) + d) * 8
        elif name == "fedcmoo":  # sketch + Gram, then cross term + residual Gram, then y_i
            assert messages == 3 * len(parts) and payload == len(parts) * (2 * (m + d) + 3 * m * m + d) * 8
        else:
            assert messages == len(parts) and payload == len(parts) * per_message
        assert total > payload


def test_client_preferences_reach_the_clients():
    problem = _problem()
    rows = np.tile([1.0, 0.0, 0.0], (4, 1))
    cfg = AlgorithmConfig(name="fedavg_ls", local_steps=2, seed=0)
    h = run(UplinkRecorder(problem, client_preferences=rows), cfg, RunConfig(rounds=1))
    assert np.allclose(h.records[0].lambda_mean, [1.0, 0.0, 0.0])  # the clients used p_i, not the shared p
    shared = run(problem, cfg, RunConfig(rounds=1))
    assert not np.allclose(h.final_point["x"], shared.final_point["x"])
    one = run(problem, cfg.replace(preference=(1.0, 0.0, 0.0)), RunConfig(rounds=1))
    assert np.allclose(h.final_point["x"], one.final_point["x"])
