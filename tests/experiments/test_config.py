"""Experiment configs: the embedded default, TOML / YAML / JSON loading, and up-front validation whose
errors name the field path and the value found."""

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from firm.cli import main
from firm.experiments import DEFAULT_EXPERIMENT, ConfigError, load_config, read_config_file, validate_config
from firm_core.federated.config import ALGORITHMS, AlgorithmConfig
from firm_core.problems import HeterogeneousQuadratics
from tests.experiments.helpers import tiny_config, with_change, without

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "configs"


def test_default_experiment_is_what_the_readme_says():
    cfg = load_config()
    assert cfg.name == "default"
    assert isinstance(cfg.problem, HeterogeneousQuadratics)
    assert (cfg.problem.num_clients, cfg.problem.num_objectives) == (20, 2)
    # FIRM against every baseline, each exactly once, all with the same fixed seed
    assert [e.config.name for e in cfg.algorithms] == list(ALGORITHMS)
    assert {e.config.seed for e in cfg.algorithms} == {DEFAULT_EXPERIMENT["run"]["seed"]}
    assert cfg.algorithms[0].config.effective_beta > 0
    assert cfg.run.checkpoint_every is not None
    assert len({e.key for e in cfg.algorithms}) == len(ALGORITHMS)


def test_shipped_default_toml_is_the_embedded_default():
    assert read_config_file(EXAMPLES / "default.toml") == DEFAULT_EXPERIMENT


def _is_llm_config(path) -> bool:
    """`firm rlhf --config` files have a [task] table; every other example is a `firm run` config."""
    return "task" in read_config_file(path)


#: the shipped config files (examples/configs also holds a Python reward that an LLM config names)
CONFIG_FILES = sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".toml", ".yaml", ".yml", ".json"))


@pytest.mark.parametrize("path", [p for p in CONFIG_FILES if not _is_llm_config(p)], ids=lambda p: p.name)
def test_every_shipped_example_validates(path):
    cfg = load_config(path)
    assert cfg.algorithms and cfg.sweep.algorithms


@pytest.mark.parametrize("path", [p for p in CONFIG_FILES if _is_llm_config(p)], ids=lambda p: p.name)
def test_llm_examples_have_only_the_sections_firm_rlhf_reads(path):
    assert set(read_config_file(path)) <= {"task", "algorithm", "run"}


def test_toml_yaml_and_json_give_the_same_config(tmp_path):
    raw = tiny_config()
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    (tmp_path / "c.json").write_text(json.dumps(raw))
    toml_text = _to_toml(raw)
    assert tomllib.loads(toml_text) == raw
    (tmp_path / "c.toml").write_text(toml_text)
    loaded = [load_config(tmp_path / f"c.{ext}") for ext in ("toml", "yaml", "json")]
    for cfg in loaded:
        assert cfg.to_dict() == raw
        assert [e.config for e in cfg.algorithms] == [e.config for e in loaded[0].algorithms]
        assert cfg.run == loaded[0].run


def _to_toml(raw: dict) -> str:
    """Minimal TOML writer for the test configs (scalars, lists of scalars, tables, arrays of tables)."""

    def val(v):
        return json.dumps(v) if not isinstance(v, bool) else str(v).lower()

    lines = [f"{k} = {val(v)}" for k, v in raw.items() if not isinstance(v, dict | list)]
    for k, v in raw.items():
        if isinstance(v, dict):
            lines.append(f"[{k}]")
            lines += [f"{kk} = {val(vv)}" for kk, vv in v.items() if not isinstance(vv, list) or not vv or not isinstance(vv[0], dict)]
            for kk, vv in v.items():
                if isinstance(vv, list) and vv and isinstance(vv[0], dict):
                    for item in vv:
                        lines.append(f"[[{k}.{kk}]]")
                        lines += [f"{a} = {val(b)}" for a, b in item.items()]
        elif isinstance(v, list):
            for item in v:
                lines.append(f"[[{k}]]")
                lines += [f"{a} = {val(b)}" for a, b in item.items()]
    return "\n".join(lines) + "\n"


def test_cli_overrides_are_validated_too():
    assert load_config(rounds=7, name="short").run.rounds == 7
    with pytest.raises(ConfigError, match=r"^run\.rounds must be >= 1, got 0$"):
        load_config(rounds=0)
    with pytest.raises(ConfigError, match=r"^name must start with a letter"):
        load_config(name="../escape")


BAD_FIELDS = [
    (("algorithms", 1, "beta"), -1, r"algorithms[1].beta must be a finite number >= 0 (or None for the default), got -1"),
    (("algorithms", 0, "beta"), "big", r"algorithms[0].beta must be a finite number >= 0 (or None for the default), got 'big'"),
    (("algorithms", 1, "beta"), 0.5, r"algorithms[1].beta must be 0 or None for 'local_mgda'"),
    (("algorithms", 0, "name"), "sgd", r"algorithms[0].name must be one of"),
    (("algorithms", 2, "stepsize"), 0.1, r"algorithms[2].stepsize is not a known field (allowed: "),
    (("algorithms", 0, "preference"), [0.5, 0.6], r"algorithms[0].preference must be a probability vector"),
    (("algorithms", 0, "preference"), [0.2, 0.3, 0.5], r"algorithms[0].preference must have length M = 2, got [0.2, 0.3, 0.5]"),
    (("algorithms", 3, "participation"), 50, r"algorithms[3].participation must be <= the number of clients N = 4, got 50"),
    (("algorithms", 5, "sketch_rank"), 0, r"algorithms[5].sketch_rank must be an integer >= 1, got 0"),
    (("defaults", "lr"), -0.1, r"defaults.lr must be > 0.0, got -0.1"),
    (("defaults", "local_steps"), 1.5, r"defaults.local_steps must be an integer, got 1.5 of type float"),
    (("defaults", "name"), "firm", r"defaults.name is not a known field"),
    (("run", "rounds"), 0, r"run.rounds must be >= 1, got 0"),
    (("run", "rounds"), "ten", r"run.rounds must be an integer, got 'ten' of type str"),
    (("run", "seed"), -1, r"run.seed must be >= 0, got -1"),
    (("run", "checkpoint_every"), 0, r"run.checkpoint_every must be >= 1, got 0"),
    (("run", "epochs"), 3, r"run.epochs is not a known field (allowed: checkpoint_every, eval_every, rounds, seed), got 3"),
    (("problem", "name"), "nope", r"problem.name must be one of "),
    (("problem", "num_clients"), 0, r"problem.num_clients must be an integer >= 1, got 0"),
    (("problem", "heterogeneity"), -2.0, r"problem.heterogeneity must be >= 0.0, got -2.0"),
    (("problem", "bogus"), 1, r"problem.bogus is not a known field (allowed: client_weights, curvature, curvature_range, dim, "),
    (("sweep", "points"), 1, r"sweep.points must be >= 2, got 1"),
    (("sweep", "reference"), [1.0], r"sweep.reference must have 2 entries, got 1: [1.0]"),
    (("sweep", "algorithms"), [{"name": "firm", "preference": [1, 0]}], r"sweep.algorithms[0].preference is set by the sweep"),
    (("name",), "a/b", r"name must start with a letter or digit"),
    (("runs",), {}, r"runs is not a known field"),
    (("algorithms",), [], r"algorithms must have at least 1 entry, got 0"),
    (("algorithms",), {"name": "firm"}, r"algorithms must be a list, got {'name': 'firm'} of type dict"),
    (("problem",), "quadratics", r"problem must be a table (mapping), got 'quadratics' of type str"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD_FIELDS, ids=[".".join(map(str, c[0])) + f"={c[1]!r}" for c in BAD_FIELDS])
def test_bad_field_error_names_the_field_and_the_value(path, value, message):
    raw = with_change(tiny_config(), path, value)
    with pytest.raises(ConfigError) as info:
        validate_config(raw)
    assert str(info.value).startswith(message), str(info.value)


def test_missing_and_duplicate_fields_are_named():
    with pytest.raises(ConfigError, match=r"^problem is required but missing$"):
        validate_config(without(tiny_config(), ("problem",)))
    with pytest.raises(ConfigError, match=r"^algorithms\[2\]\.name is required but missing$"):
        validate_config(without(tiny_config(), ("algorithms", 2, "name")))
    twice = with_change(tiny_config(), ("algorithms",), [{"name": "firm", "beta": 2.0}, {"name": "firm", "beta": 2.0}])
    with pytest.raises(ConfigError, match=r"^algorithms\[1\]\.label must be unique: 'FIRM \(beta=2\)'"):
        validate_config(twice)
    relabelled = with_change(twice, ("algorithms", 1, "label"), "FIRM again")
    assert [e.key for e in validate_config(relabelled).algorithms] == ["firm_beta_2", "firm_again"]


def test_a_good_config_builds_the_engine_configs():
    cfg = validate_config(tiny_config())
    firm = cfg.algorithms[0].config
    assert firm == AlgorithmConfig(name="firm", local_steps=2, lr=0.1, participation=3, seed=3)
    assert cfg.run.rounds == 4 and cfg.run.checkpoint_every == 2 and cfg.run.name == "tiny"
    assert [e.config.name for e in cfg.sweep.algorithms] == ["firm", "fedavg_ls"]


@pytest.mark.parametrize(("name", "text", "message"), [
    ("c.ini", "x = 1", "unknown extension '.ini'"),
    ("c.toml", "rounds = = 3", "is not valid TOML"),
    ("c.yaml", "a: [1, 2", "is not valid YAML"),
    ("c.yaml", "- 1\n- 2\n", "must hold a table at the top level, got list"),
])
def test_unreadable_files_name_the_file(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        read_config_file(path)
    assert name in str(info.value)


def test_cli_reports_a_bad_field_before_any_work(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(with_change(tiny_config(), ("algorithms", 1, "beta"), -1)))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", "--config", str(path), "--out", str(out)])
    assert result.exit_code == 2
    assert "algorithms[1].beta must be a finite number >= 0 (or None for the default), got -1" in result.output
    assert not out.exists()
    result = CliRunner().invoke(main, ["sweep", "--config", str(path), "--out", str(out)])
    assert result.exit_code == 2 and "algorithms[1].beta" in result.output and not out.exists()
