"""The Flower server's average and memory: uploads are kept in their wire dtype and summed one at a time
into a float64 running sum, which equals firm_core's ``aggregate`` of the float64 uploads to the bit,
and the server's peak memory grows by one upload per client (measured with tracemalloc)."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("flwr")

from firm_core.federated import aggregate, model_drift  # noqa: E402

from firm_core.federated.server import weighted_row_sum  # noqa: E402

from backends.flower.aggregation import NOT_FINITE, ZERO_WEIGHT, guarded_average, streamed_drift  # noqa: E402

pytestmark = [pytest.mark.flower]

#: The row-by-row sum against BLAS's wbar @ Y: only the summation order differs, a few ulps of max |y_i| ~ 4.
ORDER_ATOL = 1e-13
#: Python objects the server keeps per reply besides its upload (the metrics, the reply record): far below
#: one adapter of d = 200 000 float32 entries (800 kB), so one more copy of an upload could not hide in it.
PER_REPLY_OVERHEAD_BYTES = 16 * 1024


def _uploads(n=5, d=1001, seed=0):
    rng = np.random.default_rng(seed)
    ys = [rng.standard_normal(d).astype(np.float32) for _ in range(n)]
    return rng.standard_normal(d), ys, np.array([5.0, 1.0, 0.5, 3.0, 0.25][:n])


def test_running_float64_sum_of_float32_uploads_equals_the_engines_aggregate():
    x, ys, w = _uploads()
    stacked = np.stack([y.astype(np.float64) for y in ys])
    want = aggregate(x, stacked, w, 0.7)
    got, reason = guarded_average(x, ys, w, 0.7)
    assert reason == "" and got.dtype == np.float64
    np.testing.assert_array_equal(got, want)  # the engine's bits: uploads streamed in float32, summed in float64
    wbar = w / w.sum()
    np.testing.assert_allclose(weighted_row_sum(wbar, ys), wbar @ stacked, rtol=0, atol=ORDER_ATOL)
    # a product formed in float32 (the uploads' dtype) would be off by ~1e-8: the exact comparison sees it
    in_float32 = sum(np.float32(wi) * y for wi, y in zip(wbar, ys, strict=True)).astype(np.float64)
    assert np.max(np.abs(in_float32 - weighted_row_sum(wbar, ys))) > 1e3 * ORDER_ATOL
    # unequal weights matter: the plain mean is far from the weighted one
    assert np.max(np.abs(aggregate(x, stacked, np.ones(5), 0.7) - got)) > 0.1
    with pytest.raises(ValueError, match="at least one row"):
        weighted_row_sum([], [])


def test_refused_averages_and_streamed_drift():
    x, ys, w = _uploads(n=3)
    assert guarded_average(x, ys, np.zeros(3), 1.0) == (None, ZERO_WEIGHT)
    huge = [np.full_like(ys[0], 3e38), np.full_like(ys[0], 3e38), ys[2]]
    assert guarded_average(x, huge, w, 1e300) == (None, NOT_FINITE)  # 3e38 * 1e300 overflows float64
    x_new, _ = guarded_average(x, ys, w, 1.0)
    want = model_drift(np.stack([y.astype(np.float64) for y in ys]), x_new)
    assert streamed_drift(ys, x_new) == pytest.approx(want, rel=1e-14, abs=0)
    assert np.isnan(streamed_drift([], x_new))


def _bench():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_flower_memory.py"
    spec = importlib.util.spec_from_file_location("bench_flower_memory", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_server_memory_grows_by_one_upload_per_client():
    logging.getLogger("flwr").setLevel(logging.WARNING)
    bench = _bench()
    small, large = bench.round_peak(2, 200_000), bench.round_peak(8, 200_000)
    per_client = (large["peak_bytes"] - small["peak_bytes"]) / 6
    adapter = small["adapter_bytes"]
    assert adapter <= per_client <= adapter + PER_REPLY_OVERHEAD_BYTES, per_client / adapter
