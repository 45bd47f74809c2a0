"""Checkpoints: all-or-nothing saves at every step of the write order, append-only history (the cost of a
save does not grow with the round), verified loading that refuses damage with a message instead of a
traceback, folders checked before round 0, and an exact resume from a Ctrl-C checkpoint."""

import json
import os
import zipfile

import numpy as np
import pytest

from firm_core.federated import AlgorithmConfig, History, RunConfig, checkpoint, engine, load_checkpoint, run
from firm_core.federated.checkpoint import CheckpointError, MANIFEST_FILE, save_checkpoint
from firm_core.federated.engine import RunInterrupted
from tests.federated._problems import FaultyProblem, random_scalar_quadratic


def _problem():
    return random_scalar_quadratic(num_clients=5, num_objectives=3, dim=3, noise_std=0.3)


def _cfg(name="firm", **kw):
    base = dict(name=name, local_steps=2, lr=0.05, participation=3, seed=11)
    if name in ("firm", "fedcmoo"):
        base["beta"] = 0.5
    return AlgorithmConfig(**(base | kw))


def _same_run(h1: History, h2: History):
    """Bit-for-bit equality of records (wall time aside) and final points."""
    assert len(h1) == len(h2)
    for a, b in zip(h1.records, h2.records):
        da, db = a.to_dict(), b.to_dict()
        da.pop("wall_time"), db.pop("wall_time")
        assert json.dumps(da, sort_keys=True) == json.dumps(db, sort_keys=True)
    assert json.dumps(h1.final_point) == json.dumps(h2.final_point)


class _Crash(Exception):
    """Stands in for a process dying at one step of a save."""


# --- all-or-nothing -----------------------------------------------------------------------------------

#: The steps of a save, in order: (function, which call of it); a crash just before or just after any of
#: them must leave the previous or the new checkpoint, whole.
SAVE_STEPS = [("_write_atomic", 1), ("_append_log", 1), ("_write_atomic", 2), ("_fsync_dir", 1)]


@pytest.mark.parametrize("step", SAVE_STEPS, ids=[f"{f}#{n}" for f, n in SAVE_STEPS])
@pytest.mark.parametrize("before", [True, False], ids=["before", "after"])
def test_a_crash_at_any_step_of_a_save_leaves_a_whole_checkpoint(step, before, tmp_path, monkeypatch):
    prob = _problem()
    full = run(prob, _cfg(), RunConfig(rounds=6), progress=False)
    run(prob, _cfg(), RunConfig(rounds=2), progress=False, checkpoint_dir=tmp_path)  # committed at round 2
    name, which = step
    real = getattr(checkpoint, name)
    calls = {"n": 0}

    def crashing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == which and before:
            raise _Crash(name)
        out = real(*args, **kwargs)
        if calls["n"] == which:
            raise _Crash(name)
        return out

    monkeypatch.setattr(checkpoint, name, crashing)
    with pytest.raises(_Crash):
        run(prob, _cfg(), RunConfig(rounds=4), progress=False, checkpoint_dir=tmp_path, resume_from=tmp_path)
    monkeypatch.setattr(checkpoint, name, real)
    state, hist = load_checkpoint(tmp_path, _cfg(), prob)
    committed = name == "_fsync_dir" or (name == "_write_atomic" and which == 2 and not before)
    assert state.round == (4 if committed else 2) and len(hist) == state.round
    resumed = run(prob, _cfg(), RunConfig(rounds=6), progress=False, resume_from=tmp_path)
    _same_run(full, resumed)


def test_an_uncommitted_log_tail_is_ignored_and_cut_before_the_next_append(tmp_path):
    prob = _problem()
    full = run(prob, _cfg(), RunConfig(rounds=5), progress=False)
    run(prob, _cfg(), RunConfig(rounds=2), progress=False, checkpoint_dir=tmp_path)
    manifest = json.loads((tmp_path / MANIFEST_FILE).read_text())
    with open(tmp_path / manifest["history_file"], "ab") as fh:
        fh.write(b'{"round": 2, "phi": 0.1, "torn')  # a crash in the middle of an append
    state, hist = load_checkpoint(tmp_path)
    assert state.round == 2 and len(hist) == 2
    run(prob, _cfg(), RunConfig(rounds=4), progress=False, checkpoint_dir=tmp_path, resume_from=tmp_path)
    resumed = run(prob, _cfg(), RunConfig(rounds=5), progress=False, resume_from=tmp_path)
    _same_run(full, resumed)
    assert b"torn" not in (tmp_path / json.loads((tmp_path / MANIFEST_FILE).read_text())["history_file"]).read_bytes()


# --- incremental history ------------------------------------------------------------------------------

def test_each_save_serializes_only_the_new_records(tmp_path, monkeypatch):
    serialized = []
    real = checkpoint.record_line

    def counting(record):
        serialized.append(record.round)
        return real(record)

    monkeypatch.setattr(checkpoint, "record_line", counting)
    sizes = []
    real_save = engine.save_checkpoint

    def spy(directory, state, history, *args, **kwargs):
        before = len(serialized)
        real_save(directory, state, history, *args, **kwargs)
        sizes.append((state.round, len(serialized) - before))

    monkeypatch.setattr(engine, "save_checkpoint", spy)
    run(_problem(), _cfg(), RunConfig(rounds=40, checkpoint_every=4), progress=False, checkpoint_dir=tmp_path)
    # the first save writes its 4 records; every later one the 4 new records plus the last committed one
    # (re-serialized once to check that the log is a prefix of the history): 5, whatever the round
    assert sizes[0] == (4, 4)
    assert {n for _, n in sizes[1:-1]} == {5} and sizes[-1] == (40, 5)
    manifest = json.loads((tmp_path / MANIFEST_FILE).read_text())
    assert manifest["history_records"] == 40


def test_the_log_only_grows_by_appending(tmp_path):
    prob = _problem()
    run(prob, _cfg(), RunConfig(rounds=3), progress=False, checkpoint_dir=tmp_path)
    log = tmp_path / json.loads((tmp_path / MANIFEST_FILE).read_text())["history_file"]
    first = log.read_bytes()
    run(prob, _cfg(), RunConfig(rounds=7), progress=False, checkpoint_dir=tmp_path, resume_from=tmp_path)
    log2 = tmp_path / json.loads((tmp_path / MANIFEST_FILE).read_text())["history_file"]
    assert log2 == log and log.read_bytes().startswith(first) and len(log.read_bytes()) > len(first)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("state-")) == \
        [json.loads((tmp_path / MANIFEST_FILE).read_text())["state_file"]]  # earlier state files removed


def test_save_checkpoint_with_a_growing_history_appends_and_another_run_starts_over(tmp_path):
    """The stateless entry point (used by the Flower strategy): called each round with the whole history."""
    prob = _problem()
    hist = run(prob, _cfg(), RunConfig(rounds=4), progress=False)
    algo = engine.make_algorithm(_cfg())
    state = algo.init(prob)
    partial = History(metadata=hist.metadata)
    for t in range(4):
        state, _ = algo.step(prob, state)
        partial.append(hist.records[t])
        save_checkpoint(tmp_path, state, partial, _cfg(), RunConfig(rounds=4))
        loaded_state, loaded = load_checkpoint(tmp_path)
        assert loaded_state.round == t + 1 and [r.round for r in loaded.records] == list(range(t + 1))
    np.testing.assert_array_equal(loaded_state.x, hist.final_x)
    other = run(prob, _cfg(seed=12), RunConfig(rounds=2), progress=False)
    s2 = algo.init(prob)._replace(round=2)
    save_checkpoint(tmp_path, s2, other, _cfg(seed=12), RunConfig(rounds=2))
    _, back = load_checkpoint(tmp_path, _cfg(seed=12))
    assert [r.to_dict() for r in back.records] == [r.to_dict() for r in other.records]


# --- damaged and foreign checkpoints ------------------------------------------------------------------

def _manifest(path):
    return json.loads((path / MANIFEST_FILE).read_text())


def _truncate_state(path):
    f = path / _manifest(path)["state_file"]
    f.write_bytes(f.read_bytes()[:40])


def _flip_log_byte(path):
    f = path / _manifest(path)["history_file"]
    data = bytearray(f.read_bytes())
    i = data.index(b'"phi":') + 8
    data[i] = ord("7") if data[i] != ord("7") else ord("3")
    f.write_bytes(bytes(data))


def _garbage_manifest(path):
    (path / MANIFEST_FILE).write_bytes(b"\x00\x01not json")


def _drop_manifest_field(path):
    m = _manifest(path)
    del m["history_sha256"]
    (path / MANIFEST_FILE).write_text(json.dumps(m))


def _remove_log(path):
    (path / _manifest(path)["history_file"]).unlink()


def _shorten_log(path):
    f = path / _manifest(path)["history_file"]
    f.write_bytes(f.read_bytes()[:-10])


def _state_not_a_zip_but_right_checksum(path):
    import hashlib

    m = _manifest(path)
    data = b"PK\x03\x04" + b"\x00" * 60
    (path / m["state_file"]).write_bytes(data)
    m["state_sha256"] = hashlib.sha256(data).hexdigest()
    (path / MANIFEST_FILE).write_text(json.dumps(m))


DAMAGE = {
    "truncated state file": (_truncate_state, "state file"),
    "a flipped byte in the history": (_flip_log_byte, "checksum"),
    "garbage manifest": (_garbage_manifest, "manifest.json cannot be read"),
    "manifest without a field": (_drop_manifest_field, "lacks the field 'history_sha256'"),
    "history log removed": (_remove_log, "cannot be read"),
    "history log shortened": (_shorten_log, "holds"),
    "state file not a zip archive": (_state_not_a_zip_but_right_checksum, "cannot be decoded"),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_damaged_checkpoints_are_refused_with_what_to_do(damage, tmp_path):
    prob = _problem()
    run(prob, _cfg(), RunConfig(rounds=3), progress=False, checkpoint_dir=tmp_path)
    load_checkpoint(tmp_path, _cfg(), prob)  # intact: loads
    corrupt, phrase = DAMAGE[damage]
    corrupt(tmp_path)
    with pytest.raises(CheckpointError) as info:
        run(prob, _cfg(), RunConfig(rounds=5), progress=False, resume_from=tmp_path)
    message = str(info.value)
    assert "is damaged" in message and phrase in message and "delete that folder" in message
    assert not isinstance(info.value, zipfile.BadZipFile | EOFError | KeyError)


def test_the_earlier_two_file_layout_loads_and_its_torn_state_is_explained(tmp_path):
    prob = _problem()
    hist = run(prob, _cfg(), RunConfig(rounds=2), progress=False)
    np.savez(tmp_path / "state.npz", round=np.int64(2), x=hist.final_x, seed=np.int64(11),
             server_lambda=np.full(3, np.nan))
    payload = {"round": 2, "algorithm_config": _cfg().to_dict(), "run_config": RunConfig(rounds=2).to_dict(),
               "history": hist.to_dict()}
    (tmp_path / "checkpoint.json").write_text(json.dumps(payload))
    state, back = load_checkpoint(tmp_path, _cfg(), prob)
    assert state.round == 2 and len(back) == 2
    full = run(prob, _cfg(), RunConfig(rounds=4), progress=False)
    _same_run(full, run(prob, _cfg(), RunConfig(rounds=4), progress=False, resume_from=tmp_path))
    # the failure the earlier layout allowed: state.npz saved for round 4, checkpoint.json still at 2
    np.savez(tmp_path / "state.npz", round=np.int64(4), x=full.final_x, seed=np.int64(11),
             server_lambda=np.full(3, np.nan))
    with pytest.raises(CheckpointError, match=r"state.npz is at round 4 but checkpoint.json at 2.*delete that folder"):
        load_checkpoint(tmp_path)


def test_a_checkpoint_of_another_config_or_problem_is_refused_with_advice(tmp_path):
    prob = _problem()
    run(prob, _cfg(), RunConfig(rounds=2), progress=False, checkpoint_dir=tmp_path)
    with pytest.raises(CheckpointError, match=r"`lr` \(saved 0.05, given 0.1\).*delete that folder to start over"):
        run(prob, _cfg(lr=0.1), RunConfig(rounds=4), progress=False, resume_from=tmp_path)
    with pytest.raises(CheckpointError, match="holds no checkpoint"):
        load_checkpoint(tmp_path / "nothing-here")


# --- folders checked before any round ------------------------------------------------------------------

def _count_rounds():
    seen = []
    return seen, lambda record, total: seen.append(record.round)


def test_a_checkpoint_folder_that_is_a_file_is_refused_before_round_0(tmp_path):
    target = tmp_path / "ckpt"
    target.write_text("mine")
    seen, hook = _count_rounds()
    with pytest.raises(ValueError, match="is a file, not a folder"):
        run(_problem(), _cfg(), RunConfig(rounds=3), progress=hook, checkpoint_dir=target)
    assert seen == [] and target.read_text() == "mine"


def test_an_unwritable_checkpoint_folder_is_refused_before_round_0(tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(checkpoint.tempfile, "mkstemp", denied)
    seen, hook = _count_rounds()
    # checkpoint_every=None: only a final save, which used to fail after every round had run
    with pytest.raises(ValueError, match="not writable.*Permission denied"):
        run(_problem(), _cfg(), RunConfig(rounds=3), progress=hook, checkpoint_dir=tmp_path / "c")
    assert seen == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through directory permissions")
def test_a_read_only_folder_is_refused_for_real(tmp_path):  # pragma: no cover - runs for non-root users
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    with pytest.raises(ValueError, match="not writable"):
        run(_problem(), _cfg(), RunConfig(rounds=1), progress=False, checkpoint_dir=ro)


def test_clear_checkpoint_removes_only_its_own_files(tmp_path):
    run(_problem(), _cfg(), RunConfig(rounds=2), progress=False, checkpoint_dir=tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    kept = checkpoint.clear_checkpoint(tmp_path)
    assert kept == ["notes.txt"] and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


# --- Ctrl-C ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["firm", "fmgda", "fedcmoo"])
def test_ctrl_c_checkpoints_the_last_completed_round_and_resumes_bit_for_bit(name, tmp_path):
    base = _problem()
    full = run(base, _cfg(name), RunConfig(rounds=7), progress=False)
    crashing = FaultyProblem(base, {}, interrupt_after_calls=9)  # KeyboardInterrupt inside some round
    with pytest.raises(RunInterrupted) as info:
        run(crashing, _cfg(name), RunConfig(rounds=7, checkpoint_every=5), progress=False, checkpoint_dir=tmp_path,
            checkpoint_on_interrupt=True)
    stopped = info.value
    assert isinstance(stopped, KeyboardInterrupt)
    assert 0 < stopped.state.round < 5 and stopped.checkpoint_round == stopped.state.round  # before any periodic save
    assert stopped.history.status == "interrupted" and len(stopped.history) == stopped.state.round
    state, saved = load_checkpoint(tmp_path)
    assert state.round == stopped.state.round and saved.status == "interrupted"
    resumed = run(base, _cfg(name), RunConfig(rounds=7), progress=False, resume_from=tmp_path)
    assert resumed.status == "completed"
    _same_run(full, resumed)


def test_checkpoint_benchmark_script_runs():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_checkpoint.py"
    spec = importlib.util.spec_from_file_location("bench_checkpoint", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    ratio = bench.main(["--long", "40", "--short", "5", "--window", "5", "--no-legacy"])
    assert np.isfinite(ratio) and ratio > 0


def test_extras_status_and_non_finite_values_survive_a_checkpoint_exactly(tmp_path):
    import dataclasses
    import math

    prob = _problem()
    hist = run(prob, _cfg(), RunConfig(rounds=3), progress=False)
    hist.records[1] = dataclasses.replace(hist.records[1], extras={"reward": 0.1 + 0.2, "kl": float("inf")},
                                          phi=float("-inf"))
    hist.set_status("interrupted", "stopped by a test")
    state = engine.make_algorithm(_cfg()).init(prob)._replace(round=3, x=np.array([1e-310, -0.0, 1 / 3]))
    save_checkpoint(tmp_path, state, hist, _cfg(), RunConfig(rounds=3))
    loaded_state, back = load_checkpoint(tmp_path)
    assert back.records[1].extras == {"reward": 0.1 + 0.2, "kl": float("inf")} and back.records[1].phi == -math.inf
    assert (back.status, back.message) == ("interrupted", "stopped by a test")
    assert loaded_state.x.tobytes() == state.x.tobytes()  # subnormals and the sign of zero included
