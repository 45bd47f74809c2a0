"""History: append order, series shapes, JSON (strict, NaN as null) and CSV round trips."""

import json
import math

import numpy as np
import pytest

from firm_core.federated import History, RoundRecord


def _record(t, *, phi=0.5, d_lambda=float("nan"), dist=None, dropped=(), skipped=False):
    return RoundRecord(
        round=t, phi=phi / (t + 1), objectives=(1.0 + t, 2.0 / (t + 1)), d_lambda=d_lambda, d_x=0.1 * t,
        dist_pareto=dist, lambda_mean=(0.25, 0.75), uplink_floats=30, downlink_floats=30, uplink_bytes=240,
        downlink_bytes=240, wall_time=0.001 * (t + 1), participants=(0, 2, 5), dropped=dropped, skipped=skipped,
        solver_status="converged",
    )


def _history():
    h = History(metadata={"algorithm": "firm", "seed": 3, "config": {"beta": 1.0}})
    h.append(_record(0, dist=1.5))
    h.append(_record(1, d_lambda=1e-3, dropped=({"client": 2, "reason": "non-finite stochastic Jacobian"},)))
    h.append(_record(2, phi=float("nan"), skipped=True))
    h.final_point = {"round": 3, "phi": 0.01, "objectives": [1.0, 2.0], "dist_pareto": None, "x": [0.1, 0.2]}
    return h


def _same(a, b):
    """Field-by-field equality, NaN equal to NaN."""
    da, db = a.to_dict(), b.to_dict()
    assert da.keys() == db.keys()
    for k in da:
        va, vb = da[k], db[k]
        if isinstance(va, float) and math.isnan(va):
            assert isinstance(vb, float) and math.isnan(vb), k
        elif isinstance(va, list) and va and isinstance(va[0], float):
            np.testing.assert_array_equal(va, vb)
        else:
            assert va == vb, k


def test_json_round_trip_is_exact(tmp_path):
    h = _history()
    h.to_json(tmp_path / "h.json")
    text = (tmp_path / "h.json").read_text()
    assert "NaN" not in text  # strict JSON
    json.loads(text)
    back = History.from_json(tmp_path / "h.json")
    assert back.metadata == h.metadata
    assert back.final_point == h.final_point
    assert len(back) == 3
    for a, b in zip(h.records, back.records):
        _same(a, b)
    assert back.records[1].dropped == ({"client": 2, "reason": "non-finite stochastic Jacobian"},)
    assert back.records[0].dist_pareto == 1.5 and back.records[1].dist_pareto is None
    np.testing.assert_array_equal(back.final_x, [0.1, 0.2])


def test_series_shapes_and_values():
    h = _history()
    np.testing.assert_array_equal(h.series("round"), [0, 1, 2])
    assert h.series("objectives").shape == (3, 2)
    np.testing.assert_array_equal(h.series("dist_pareto")[1:], [np.nan, np.nan])
    assert h.series("dist_pareto")[0] == 1.5
    np.testing.assert_array_equal(h.series("skipped"), [False, False, True])
    np.testing.assert_array_equal(h.series("num_dropped"), [0, 1, 0])
    np.testing.assert_array_equal(h.series("num_participants"), [3, 3, 3])
    with pytest.raises(ValueError, match="`key`.*'participants'"):
        h.series("participants")
    with pytest.raises(ValueError, match="`key`.*'phii'"):
        h.series("phii")


def test_csv_round_trip(tmp_path):
    h = _history()
    h.to_csv(tmp_path / "h.csv")
    cols = History.read_csv(tmp_path / "h.csv")
    assert list(cols)[:4] == ["round", "phi", "objective_0", "objective_1"]
    np.testing.assert_array_equal(cols["phi"], h.series("phi"))  # repr floats: exact
    np.testing.assert_array_equal(cols["objective_1"], h.series("objectives")[:, 1])
    np.testing.assert_array_equal(cols["lambda_mean_0"], h.series("lambda_mean")[:, 0])
    np.testing.assert_array_equal(cols["d_lambda"], h.series("d_lambda"))
    np.testing.assert_array_equal(cols["skipped"], [0, 0, 1])
    assert cols["participants"][0] == "0 2 5"
    assert cols["dropped"][1] == "2:non-finite stochastic Jacobian"


def test_append_rejects_gaps_and_wrong_types():
    h = History()
    h.append(_record(4))
    with pytest.raises(ValueError, match=r"`record.round` must be 5 .*got 6"):
        h.append(_record(6))
    with pytest.raises(TypeError, match="`record`"):
        h.append({"round": 5})


def test_from_dict_rejects_unknown_schema_and_fields():
    d = _history().to_dict()
    with pytest.raises(ValueError, match="schema_version"):
        History.from_dict({**d, "schema_version": 99})
    bad = _history().to_dict()
    bad["records"][0]["bogus"] = 1
    with pytest.raises(ValueError, match="bogus"):
        History.from_dict(bad)


def test_final_summary_totals():
    f = _history().final()
    assert f["phi"] == 0.01 and f["round"] == 3
    assert f["total_uplink_floats"] == 90 and f["skipped_rounds"] == 1 and f["dropped_clients"] == 1


def test_json_writes_infinite_metrics_as_null(tmp_path):
    """A diverged run's metrics overflow to inf: the history stays writable (strict JSON has no inf)."""
    h = History()
    h.append(_record(0, phi=float("inf")))
    h.final_point = {"round": 1, "phi": float("inf"), "objectives": [float("inf"), 1.0], "dist_pareto": None, "x": [1e300]}
    h.to_json(tmp_path / "h.json")
    raw = json.loads((tmp_path / "h.json").read_text())
    assert raw["records"][0]["phi"] is None and raw["final"]["objectives"] == [None, 1.0]
    back = History.from_json(tmp_path / "h.json")
    assert math.isnan(back.records[0].phi) and math.isnan(back.final()["phi"])


# --- extras ----------------------------------------------------------------------------------------

def _with_extras(t, extras):
    import dataclasses

    return dataclasses.replace(_record(t), extras=extras)


def test_extras_default_empty_and_round_trip_through_json(tmp_path):
    assert _record(0).extras == {} and _record(0).to_dict()["extras"] == {}
    h = History()
    h.append(_with_extras(0, {"reward": 0.25, "kl": 1e-3}))
    h.append(_with_extras(1, {"reward": float("nan")}))
    h.append(_record(2))
    h.to_json(tmp_path / "h.json")
    back = History.from_json(tmp_path / "h.json")
    assert back.records[0].extras == {"reward": 0.25, "kl": 1e-3}
    assert math.isnan(back.records[1].extras["reward"]) and back.records[2].extras == {}
    np.testing.assert_array_equal(back.series("extra.reward"), [0.25, np.nan, np.nan])
    np.testing.assert_array_equal(back.series("extra.kl"), [1e-3, np.nan, np.nan])


def test_extras_become_csv_columns(tmp_path):
    h = History()
    h.append(_with_extras(0, {"reward": 0.5, "kl": 0.125}))
    h.append(_with_extras(1, {"reward": -1.5}))
    h.to_csv(tmp_path / "h.csv")
    cols = History.read_csv(tmp_path / "h.csv")
    assert list(cols)[-2:] == ["extra.kl", "extra.reward"]  # after the fixed columns, sorted by name
    np.testing.assert_array_equal(cols["extra.reward"], [0.5, -1.5])
    np.testing.assert_array_equal(cols["extra.kl"], [0.125, np.nan])  # a round that did not report it: empty
    plain = _history()
    plain.to_csv(tmp_path / "p.csv")
    assert not any(c.startswith("extra.") for c in History.read_csv(tmp_path / "p.csv"))


@pytest.mark.parametrize(("extras", "error", "message"), [
    ({"reward": "high"}, TypeError, r"`extras\['reward'\]` must be a real number, got str"),
    ({"reward": True}, TypeError, r"`extras\['reward'\]` must be a real number, got bool"),
    ({3: 1.0}, TypeError, r"`extras` keys must be non-empty strings, got 3"),
    ({"": 1.0}, TypeError, r"`extras` keys must be non-empty strings"),
    ([("reward", 1.0)], TypeError, r"`extras` must be a dict"),
])
def test_extras_reject_what_is_not_a_named_float(extras, error, message):
    with pytest.raises(error, match=message):
        _with_extras(0, extras)


def test_extras_are_stored_as_floats():
    rec = _with_extras(0, {"reward": np.float32(0.5), "count": 3})
    assert rec.extras == {"reward": 0.5, "count": 3.0}
    assert all(type(v) is float for v in rec.extras.values())


# --- run status ------------------------------------------------------------------------------------

def test_status_and_message_round_trip(tmp_path):
    h = _history()
    assert h.status == "completed" and h.message == ""
    h.set_status("diverged", "x_3 has non-finite entries after round 2")
    h.to_json(tmp_path / "h.json")
    back = History.from_json(tmp_path / "h.json")
    assert (back.status, back.message) == ("diverged", "x_3 has non-finite entries after round 2")
    old = h.to_dict()
    del old["status"], old["message"]  # written before statuses existed
    assert History.from_dict(old).status == "completed"


def test_unknown_status_is_refused():
    with pytest.raises(ValueError, match=r"`status` must be one of .*got 'exploded'"):
        History(status="exploded")
    with pytest.raises(ValueError, match="`status`"):
        _history().set_status("done")


def test_a_failed_write_leaves_the_previous_file_whole(tmp_path, monkeypatch):
    h = _history()
    h.to_json(tmp_path / "h.json")
    before = (tmp_path / "h.json").read_bytes()
    real_dump = json.dump

    def dump_then_die(obj, fh, **kw):
        fh.write('{"schema_version": 1, "records": [')  # half a file
        raise KeyboardInterrupt

    monkeypatch.setattr(json, "dump", dump_then_die)
    with pytest.raises(KeyboardInterrupt):
        h.to_json(tmp_path / "h.json")
    monkeypatch.setattr(json, "dump", real_dump)
    assert (tmp_path / "h.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.json"]  # no temporary file left behind
