"""The LoRA RLHF task as flat run-config keys (``[tool.flwr.app.config]`` of ``app_rlhf``), both ways.

The keys are generated from the fields of :class:`~backends.flower.rlhf.settings.RLHFTaskSpec` and of
``backends.rlhf.trainer.RLHFConfig`` (its local-step fields), so a field added there gets a key
without touching this module:

    model.name         <- model            model.lora.r <- lora_r      model.lora.alpha <- lora_alpha
    model.device       <- device           model.dtype  <- dtype
    task.<field>       <- every other task-spec field (``task.rewards`` as "a,b", ``task.num-clients``, ...)
    trainer.<field>    <- every local-step field of RLHFConfig (``trainer.group-size``, ``trainer.kl-coef``, ...)

(dashes in place of underscores). K, lr, beta, p and the seed stay ``algorithm.*`` keys. Values keep
the type of the field's default: an integer field takes a TOML integer, a real field an integer or a
float, a flag a boolean, a list field a comma string "a,b" (or a list). Per-client lists separate the
clients with ";": ``task.client-preferences = "0.7,0.3;0.2,0.8"`` (p_i per client),
``task.client-mixes = "opinions=0.7,documentation=0.3;documentation"`` (a {prompt mix: share} per
client); "" is None (the shared p; pools drawn with ``task.heterogeneity``). Another field whose
default is None takes "" (None), JSON ("[...]" or "{...}") or a plain string. A value of the wrong
type raises TypeError and a wrong value ValueError; both name the key and the value.

``python -m backends.flower.rlhf.run_config`` prints the default table (what ``app_rlhf`` declares).
"""

from __future__ import annotations

import dataclasses
import json
import numbers
import re
from collections.abc import Mapping
from typing import Any

from .settings import LOCAL_FIELDS, TASK_NAME, RLHFTaskSpec

#: Key heads this module reads (the rest of a run config is the Flower settings').
TASK_HEADS = ("model", "task", "trainer")
#: Task-spec fields whose key is not ``task.<field>``.
SPEC_KEY_ALIASES = {"model": "model.name", "lora_r": "model.lora.r", "lora_alpha": "model.lora.alpha",
                    "device": "model.device", "dtype": "model.dtype"}
#: Names some validators use for a field (LoraSpec says `r` / `alpha`).
FIELD_SYNONYMS = {"r": "lora_r", "alpha": "lora_alpha"}


def _dashed(name: str) -> str:
    return name.replace("_", "-")


def _field_defaults() -> dict[str, Any]:
    """{field: default} of the task spec (less ``local``) and of the local-step RLHFConfig fields."""
    from backends.rlhf.trainer import RLHFConfig

    spec = {f.name: f.default for f in dataclasses.fields(RLHFTaskSpec) if f.name != "local"}
    local = {f.name: f.default for f in dataclasses.fields(RLHFConfig) if f.name in LOCAL_FIELDS}
    return {**spec, **local}


def field_keys() -> dict[str, str]:
    """{field: run-config key} for every task field (see the module docstring)."""
    spec_fields = [f.name for f in dataclasses.fields(RLHFTaskSpec) if f.name != "local"]
    keys = {name: SPEC_KEY_ALIASES.get(name, f"task.{_dashed(name)}") for name in spec_fields}
    keys.update({name: f"trainer.{_dashed(name)}" for name in LOCAL_FIELDS})
    return keys


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
    if isinstance(value, tuple | list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    if isinstance(value, tuple | list | dict):
        return json.dumps(value)
    return value


def problem_to_run_config(problem: Mapping) -> dict:
    """The flat keys of a task spec (every field, defaults filled in), e.g. {"model.name": "tiny", ...}."""
    spec = RLHFTaskSpec.from_dict(problem)
    values = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec) if f.name != "local"}
    local = dict(spec.local)
    defaults = _field_defaults()
    values.update({name: local.get(name, defaults[name]) for name in LOCAL_FIELDS})
    return {key: _to_toml_value(name, values[name]) for name, key in field_keys().items()}


def default_run_config() -> dict:
    """The flat keys of the default task spec."""
    return problem_to_run_config({"name": TASK_NAME})


def _coerce(key: str, name: str, value, default):
    """``value`` of field ``name`` read with the type of ``default`` (see the module docstring)."""
    if name in PER_CLIENT_CODECS:
        if not isinstance(value, str):
            raise TypeError(f"run config {key!r} must be a string (clients separated by ';'), got {value!r}")
        return None if value.strip() == "" else PER_CLIENT_CODECS[name][1](key, value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise TypeError(f"run config {key!r} must be true or false, got {value!r}")
        return value
    if isinstance(default, numbers.Integral):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"run config {key!r} must be an integer, got {value!r}")
        return int(value)
    if isinstance(default, numbers.Real):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"run config {key!r} must be a number, got {value!r}")
        return float(value)
    if isinstance(default, tuple | list):
        if isinstance(value, str):
            items = [v.strip() for v in value.split(",")]
            if any(not v for v in items):
                raise ValueError(f"run config {key!r} must be a comma list such as 'a,b' without empty items, "
                                 f"got {value!r}")
            return items
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return list(value)
        raise TypeError(f"run config {key!r} must be a comma list such as 'a,b', got {value!r}")
    if default is None:
        if value == "":
            return None
        if isinstance(value, str) and value.lstrip()[:1] in ("[", "{"):
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"run config {key!r} is not valid JSON ({exc}), got {value!r}") from None
        return value
    if isinstance(default, str) and not isinstance(value, str):
        raise TypeError(f"run config {key!r} must be a string, got {value!r}")
    return value


def problem_from_run_config(flat: Mapping[str, Any]) -> dict:
    """The task spec (``problem`` dict, name "rlhf") of the flat keys ``flat`` (all of them must be task
    keys; a missing one takes its field's default). Checked at once; errors name the key."""
    keys = field_keys()
    by_key = {key: name for name, key in keys.items()}
    unknown = sorted(k for k in flat if k not in by_key)
    if unknown:
        raise ValueError(f"run config: unknown LoRA RLHF task keys {unknown} (known: {sorted(by_key)})")
    defaults = _field_defaults()
    problem = {"name": TASK_NAME}
    for key, value in flat.items():
        name = by_key[key]
        problem[name] = _coerce(key, name, value, defaults[name])
    try:
        RLHFTaskSpec.from_dict(problem)
    except ValueError as exc:
        named = [FIELD_SYNONYMS.get(n, n) for n in re.findall(r"`(\w+)`", str(exc))]
        where = [keys[n] for n in named if n in keys]
        raise ValueError(f"run config {where[0]!r}: {exc}" if where else f"run config: {exc}") from None
    return problem


def toml_table(flat: Mapping[str, Any] | None = None) -> str:
    """The ``[tool.flwr.app.config]`` lines of the task keys (default values unless ``flat``)."""
    lines = []
    for key, value in (default_run_config() if flat is None else flat).items():
        text = ("true" if value else "false") if isinstance(value, bool) else (
            json.dumps(value) if isinstance(value, str) else repr(value))
        lines.append(f"{key} = {text}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - prints the table to paste into app_rlhf/pyproject.toml
    print(toml_table())
