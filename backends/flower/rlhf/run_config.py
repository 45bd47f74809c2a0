"""The LoRA RLHF task as flat run-config keys (``[tool.flwr.app.config]`` of ``app_rlhf``), both ways.

The keys are generated from the fields of ``backends.rlhf.build.LLMTaskConfig`` (the task of ``firm
rlhf``), so a field added there gets a key without touching this module:

    model.name   <- model      model.lora.r <- lora_r    model.lora.alpha <- lora_alpha
    model.lora.seed <- lora_seed   model.device <- device  model.dtype <- dtype
    trainer.<field>  <- the local-step fields (``build.LOCAL_FIELDS``: ``trainer.group-size``,
                        ``trainer.kl-coef``, ...) and the KL controller's (``trainer.kl-control``,
                        ``trainer.kl-target``, ``trainer.kl-horizon``)
    task.<field>     <- every other field (``task.rewards`` as "a,b", ``task.prompts``, ``task.split-by``,
                        ``task.num-clients``, ...)

(dashes in place of underscores). K, lr, beta, p and the run seed stay ``algorithm.*`` keys. A value is
read with the type of its field's annotation: an integer field takes a TOML integer, a real field an
integer or a float, a flag a boolean, a string field a string, a list field a comma string "a,b" (or a
list); an optional field (``X | None``) takes "" for None. Per-client lists separate the clients with
";": ``task.client-preferences = "0.7,0.3;0.2,0.8"`` (p_i per client), ``task.client-mixes =
"opinions=0.7,documentation=0.3;documentation"`` (a {prompt mix: share} per client). A value of the
wrong type raises TypeError and a wrong value ValueError; both name the key and the value.

Paths (``task.prompts``, a reward-model folder or file.py:callable in ``task.rewards``, a model
directory in ``model.name``) are read by the ServerApp and every ClientApp, which ``flwr run`` starts
in other directories: give absolute paths (``firm flower`` resolves relative ones against the
directory it was run from before it writes the run config).

``python -m backends.flower.rlhf.run_config`` prints the default table (what ``app_rlhf`` declares);
``python -m backends.flower.rlhf.run_config FILE --run-config`` prints the task of ``firm rlhf --config
FILE`` as one ``--run-config`` / ``flower_deploy.sh -c`` string (absolute paths).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import numbers
import re
import types
import typing
from collections.abc import Mapping
from typing import Any

from backends.rlhf.build import LOCAL_FIELDS, LLMTaskConfig

from .settings import TASK_NAME, task_config

#: Key heads this module reads (the rest of a run config is the Flower settings').
TASK_HEADS = ("model", "task", "trainer")
#: Fields whose key is not ``task.<field>`` / ``trainer.<field>``.
SPEC_KEY_ALIASES = {"model": "model.name", "lora_r": "model.lora.r", "lora_alpha": "model.lora.alpha",
                    "lora_seed": "model.lora.seed", "device": "model.device", "dtype": "model.dtype"}
#: Fields under ``trainer.``: the local step's and the KL controller's.
TRAINER_FIELDS = (*LOCAL_FIELDS, "kl_control", "kl_target", "kl_horizon")
#: Names some validators use for a field (LoraSpec says `r` / `alpha`).
FIELD_SYNONYMS = {"r": "lora_r", "alpha": "lora_alpha"}


def _dashed(name: str) -> str:
    return name.replace("_", "-")


def field_keys() -> dict[str, str]:
    """{field: run-config key} for every LLMTaskConfig field (see the module docstring)."""
    keys = {}
    for f in dataclasses.fields(LLMTaskConfig):
        head = "trainer" if f.name in TRAINER_FIELDS else "task"
        keys[f.name] = SPEC_KEY_ALIASES.get(f.name, f"{head}.{_dashed(f.name)}")
    return keys


@functools.cache
def _field_types() -> dict[str, tuple[type, bool]]:
    """{field: (base type, optional)}: ``float | None`` -> (float, True), ``tuple[str, ...]`` -> (tuple, False)."""
    out = {}
    for name, hint in typing.get_type_hints(LLMTaskConfig).items():
        args = typing.get_args(hint) if isinstance(hint, types.UnionType) else ()
        optional = type(None) in args
        base = next((a for a in args if a is not type(None)), hint)
        out[name] = (typing.get_origin(base) or base, optional)
    return out


def _encode_mixes(mixes) -> str:
    return ";".join(",".join(f"{name}={share!r}" for name, share in mix.items()) for mix in mixes)


def _encode_preferences(rows) -> str:
    return ";".join(",".join(repr(float(v)) for v in row) for row in rows)


def _decode_mixes(key: str, text: str) -> list[dict]:
    from backends.rlhf.client_data import parse_mix

    try:
        return [parse_mix(part) for part in text.split(";")]
    except ValueError as exc:
        raise ValueError(f"run config {key!r}: {exc} (clients separated by ';', got {text!r})") from None


def _decode_preferences(key: str, text: str) -> list[list[float]]:
    try:
        return [[float(v) for v in row.split(",")] for row in text.split(";")]
    except ValueError:
        raise ValueError(f"run config {key!r} must be one comma list of weights per client, separated by ';', "
                         f"such as '0.7,0.3;0.2,0.8', got {text!r}") from None


#: Fields with their own text form: (encode(value) -> str, decode(key, text) -> value); "" is None.
PER_CLIENT_CODECS = {"client_mixes": (_encode_mixes, _decode_mixes),
                     "client_preferences": (_encode_preferences, _decode_preferences)}


def _to_toml_value(name: str, value):
    if value is None:
        return ""
    if name in PER_CLIENT_CODECS:
        return PER_CLIENT_CODECS[name][0](value)
    if isinstance(value, tuple | list):
        return ",".join(value)
    return value


def problem_to_run_config(problem: Mapping) -> dict:
    """The flat keys of a task spec (every field, defaults filled in), e.g. {"model.name": "tiny", ...}."""
    return config_to_run_config(task_config(problem))


def config_to_run_config(cfg: LLMTaskConfig) -> dict:
    """The flat keys of a task config (every field)."""
    return {key: _to_toml_value(name, getattr(cfg, name)) for name, key in field_keys().items()}


def default_run_config() -> dict:
    """The flat keys of the default task config."""
    return config_to_run_config(LLMTaskConfig())


def _coerce(key: str, name: str, value):
    """``value`` of field ``name`` read with the type of the field's annotation (module docstring)."""
    base, optional = _field_types()[name]
    if name in PER_CLIENT_CODECS:
        if not isinstance(value, str):
            raise TypeError(f"run config {key!r} must be a string (clients separated by ';'), got {value!r}")
        return None if value.strip() == "" else PER_CLIENT_CODECS[name][1](key, value)
    if optional and value == "":
        return None
    none = " or \"\" (None)" if optional else ""
    if base is bool:
        if not isinstance(value, bool):
            raise TypeError(f"run config {key!r} must be true or false, got {value!r}")
        return value
    if base is int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"run config {key!r} must be an integer{none}, got {value!r}")
        return int(value)
    if base is float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"run config {key!r} must be a number{none}, got {value!r}")
        return float(value)
    if base is tuple:
        if isinstance(value, str):
            items = [v.strip() for v in value.split(",")]
            if any(not v for v in items):
                raise ValueError(f"run config {key!r} must be a comma list such as 'a,b' without empty items, "
                                 f"got {value!r}")
            return items
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return list(value)
        raise TypeError(f"run config {key!r} must be a comma list such as 'a,b', got {value!r}")
    if not isinstance(value, str):
        raise TypeError(f"run config {key!r} must be a string{none}, got {value!r}")
    return value


def problem_from_run_config(flat: Mapping[str, Any]) -> dict:
    """The task spec (``problem`` dict, name "rlhf") of the flat keys ``flat`` (all of them must be task
    keys; a missing one takes its field's default). Checked at once (``settings.check_spec``: also the
    reward callables and the prompts file); errors name the key and the value."""
    from .settings import check_spec

    keys = field_keys()
    by_key = {key: name for name, key in keys.items()}
    unknown = sorted(k for k in flat if k not in by_key)
    if unknown:
        raise ValueError(f"run config: unknown LoRA RLHF task keys {unknown} (known: {sorted(by_key)})")
    problem = {"name": TASK_NAME}
    for key, value in flat.items():
        name = by_key[key]
        problem[name] = _coerce(key, name, value)
    try:
        check_spec(problem)
    except ValueError as exc:
        named = [FIELD_SYNONYMS.get(n, n) for n in re.findall(r"`(\w+)`", str(exc))]
        where = [keys[n] for n in named if n in keys]
        raise ValueError(f"run config {where[0]!r}: {exc}" if where else f"run config: {exc}") from None
    return problem


def config_from_run_config(flat: Mapping[str, Any]) -> LLMTaskConfig:
    """The LLMTaskConfig of the flat keys ``flat`` (the inverse of :func:`config_to_run_config`)."""
    return task_config(problem_from_run_config(flat))


def _toml_value(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else (
        json.dumps(value) if isinstance(value, str) else repr(value))


def toml_table(flat: Mapping[str, Any] | None = None) -> str:
    """The ``[tool.flwr.app.config]`` lines of the task keys (default values unless ``flat``)."""
    return "\n".join(f"{key} = {_toml_value(value)}" for key, value in (default_run_config() if flat is None
                                                                         else flat).items())


def run_config_line(flat: Mapping[str, Any]) -> str:
    """The task keys as one ``k=v k="v" ...`` string for ``flwr run --run-config`` or ``flower_deploy.sh -c``."""
    return " ".join(f"{key}={_toml_value(value)}" for key, value in flat.items())


def main(argv=None) -> None:
    """Print the default task table, or (with a config file) the task of ``firm rlhf --config FILE`` as
    flat keys, relative paths made absolute against the current directory."""
    import argparse
    from pathlib import Path

    ap = argparse.ArgumentParser(prog="python -m backends.flower.rlhf.run_config", description=main.__doc__)
    ap.add_argument("config", nargs="?", help="a firm rlhf config file ([task] table)")
    ap.add_argument("--run-config", action="store_true",
                    help="one line for flwr run --run-config / scripts/flower_deploy.sh -c instead of TOML lines")
    args = ap.parse_args(argv)
    flat = default_run_config()
    if args.config:
        from backends.rlhf.build import with_absolute_paths
        from backends.rlhf.cli import config_sections

        task, _, _ = config_sections(args.config)
        flat = config_to_run_config(with_absolute_paths(task_config({"name": TASK_NAME, **task}), Path.cwd()))
    print(run_config_line(flat) if args.run_config else toml_table(flat))


if __name__ == "__main__":  # pragma: no cover - prints the table to paste into app_rlhf/pyproject.toml
    main()
