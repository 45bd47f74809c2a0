"""Config loading is bounded: YAML alias expansion, file size, values and integer sizes are limited
before anything walks the tree, and error messages abbreviate long values."""

import time
import tracemalloc

import pytest
from click.testing import CliRunner

from firm.cli import main
from firm.experiments import schema
from firm.experiments.config import MAX_CONFIG_BYTES, ConfigError, read_config_file, validate_config
from tests.experiments.helpers import tiny_config, with_change

#: A refused config must be refused quickly and without building its expansion: generous bounds for a
#: loaded 2-core machine, far below the minutes and gigabytes the unbounded loader took.
REFUSAL_SECONDS = 2.0
REFUSAL_PEAK_BYTES = 20 * 2**20


def _laughs(levels: int = 9, width: int = 9, where: str = "name") -> str:
    """A "billion laughs" document of about 500 bytes: ``width ** levels`` strings once expanded."""
    lines = ["a0: &a0 [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    lines.append(f"{where}: *a{levels - 1}")
    return "\n".join(lines) + "\n"


def _refuse_quickly(path, match):
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ConfigError, match=match) as info:
            read_config_file(path)
    finally:
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed < REFUSAL_SECONDS and peak < REFUSAL_PEAK_BYTES, (elapsed, peak)
    return str(info.value)


def test_nested_yaml_aliases_are_refused_before_expansion(tmp_path):
    path = tmp_path / "laughs.yaml"
    path.write_text(_laughs())
    assert len(path.read_bytes()) < 600
    message = _refuse_quickly(path, r"expands to .* values through its YAML aliases")
    assert "laughs.yaml" in message and len(message) < 300


def test_a_few_aliases_are_fine(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("defaults: &d {lr: 0.1, local_steps: 2}\n" + _laughs(levels=2, width=3, where="extra"))
    data = read_config_file(path)
    assert data["extra"] == [["lol"] * 3] * 3 and data["defaults"] == {"lr": 0.1, "local_steps": 2}


def test_a_recursive_alias_is_refused(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("a: &a [1, *a]\n")
    _refuse_quickly(path, "recursive YAML alias")


def test_an_oversized_file_is_refused_unread(tmp_path):
    path = tmp_path / "big.json"
    path.write_bytes(b"{" + b" " * MAX_CONFIG_BYTES + b"}")
    _refuse_quickly(path, rf"is {MAX_CONFIG_BYTES + 2} bytes, more than the {MAX_CONFIG_BYTES}")


def test_too_many_values_without_aliases_are_refused(tmp_path):
    path = tmp_path / "wide.json"
    path.write_text('{"name": [' + ", ".join(["0"] * (schema.MAX_CONFIG_NODES + 1)) + "]}")
    with pytest.raises(ConfigError, match=rf"holds more than {schema.MAX_CONFIG_NODES} values"):
        read_config_file(path)  # (the file-size bound already keeps this cheap: not timed)


@pytest.mark.parametrize("fmt", ["yaml", "toml", "json"])
def test_a_400_digit_integer_in_a_list_field_is_a_config_error(fmt, tmp_path):
    big = "9" * 400
    text = {
        "yaml": f"problem: {{name: quadratics}}\nalgorithms:\n  - name: firm\n    preference: [{big}, 0]\n",
        "toml": f'[problem]\nname = "quadratics"\n[[algorithms]]\nname = "firm"\npreference = [{big}, 0]\n',
        "json": f'{{"problem": {{"name": "quadratics"}}, "algorithms": [{{"name": "firm", "preference": [{big}, 0]}}]}}',
    }[fmt]
    path = tmp_path / f"big.{fmt}"
    path.write_text(text)
    message = _refuse_quickly(path, r"algorithms\[0\]\.preference\[0\] must be an integer of at most 64 bits, "
                                    r"got an integer of 400 digits")
    assert big not in message


def test_huge_integers_in_a_dict_config_are_refused_too():
    raw = with_change(tiny_config(), ("algorithms", 0, "preference"), [10**400, 0])
    with pytest.raises(ConfigError, match=r"^algorithms\[0\]\.preference\[0\] must be an integer of at most 64 bits"):
        validate_config(raw)
    with pytest.raises(ConfigError, match=r"^run\.seed must be an integer of at most 64 bits"):
        validate_config(with_change(tiny_config(), ("run", "seed"), 2**64))
    validate_config(with_change(tiny_config(), ("run", "seed"), 2**63 - 1))  # the bound itself is accepted


def test_check_float_turns_an_overflow_into_a_message():
    with pytest.raises(ConfigError, match=r"^x must be finite, got 1000000000"):
        schema.check_float(10**400, "x")


def test_error_messages_abbreviate_long_values():
    long_list = list(range(50_000))
    raw = with_change(tiny_config(), ("run", "epochs"), long_list)
    with pytest.raises(ConfigError) as info:
        validate_config(raw)
    message = str(info.value)
    assert message.startswith("run.epochs is not a known field") and "..." in message
    assert len(message) < 400
    long_text = "x" * 100_000
    with pytest.raises(ConfigError) as info:
        validate_config(with_change(tiny_config(), ("problem", "name"), long_text))
    assert len(str(info.value)) < 400 and "..." in str(info.value)


def test_show_is_fast_on_a_shared_structure_that_expands_exponentially():
    node = ["lol"]
    for _ in range(60):
        node = [node, node]  # 2**60 leaves when printed in full
    start = time.perf_counter()
    text = schema.show({"a": node})
    assert time.perf_counter() - start < REFUSAL_SECONDS and len(text) < 200


def test_a_config_error_message_is_cut_with_its_length():
    error = ConfigError("a.b", "y" * 5000)
    assert len(str(error)) < schema.MAX_MESSAGE_CHARS + 40 and "characters in all" in str(error)
    assert str(ConfigError("a.b", "is short")) == "a.b is short"


def test_the_cli_reports_a_laughs_config_in_one_line(tmp_path):
    path = tmp_path / "laughs.yaml"
    path.write_text(_laughs())
    result = CliRunner().invoke(main, ["run", "--config", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "expands to" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
