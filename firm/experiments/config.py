"""Experiment configuration: what ``firm run`` and ``firm sweep`` read, and its up-front validation.

A configuration is a tree (TOML or YAML file, or a dict) with these sections::

    name = "default"                 # run name: output goes to runs/<name>/
    [problem]                        # name + keyword arguments of firm_core.problems.make_problem,
    name = "quadratics"              # or factory = "module:callable" / "path/to/file.py:callable"
    num_clients = 20                 # (your own problem) + the callable's keyword arguments
    [run]                            # rounds, seed, checkpoint_every, eval_every
    rounds = 60
    seed = 0
    [defaults]                       # hyperparameters shared by every algorithm (AlgorithmConfig fields)
    lr = 0.05
    [[algorithms]]                   # one table per algorithm: name + AlgorithmConfig fields
    name = "firm"
    beta = 1.0
    [sweep]                          # firm sweep: preference points, algorithms, hypervolume reference
    points = 11

Validation builds the problem, every :class:`~firm_core.federated.config.AlgorithmConfig` and the
:class:`~firm_core.federated.config.RunConfig` before any round runs; every error is a
:class:`~firm.experiments.schema.ConfigError` naming the field path and the value, e.g.
``algorithms[1].beta must be a finite number >= 0 (or None for the default), got -1``.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import schema
from .schema import ConfigError, join

#: Top-level sections of an experiment configuration.
SECTIONS = ("name", "problem", "run", "defaults", "algorithms", "sweep")
#: Fields of the [run] section (``seed`` seeds every algorithm that sets no seed of its own).
RUN_FIELDS = ("rounds", "seed", "checkpoint_every", "eval_every")
#: Fields of the [sweep] section.
SWEEP_FIELDS = ("points", "algorithms", "reference", "front_points")
#: Algorithms a sweep runs when the config names none: FIRM, and FedAvg-LS for contrast.
DEFAULT_SWEEP_ALGORITHMS = ({"name": "firm"}, {"name": "fedavg_ls"})
#: Fields the sweep itself sets on each algorithm, so a config may not set them in [sweep].
SWEEP_OWNED_FIELDS = ("preference",)
#: Default number of preference points of a sweep and of analytic-front points for hypervolume / IGD.
DEFAULT_SWEEP_POINTS = 11
DEFAULT_FRONT_POINTS = 500

#: A run name becomes a folder name: letters, digits, dot, dash, underscore.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class AlgorithmEntry:
    """One algorithm of an experiment: its validated engine config and a file-safe ``key``."""

    key: str  # unique within the experiment; names the CSV / checkpoint folder
    config: object  # firm_core.federated.config.AlgorithmConfig

    @property
    def label(self) -> str:
        return self.config.display_name


@dataclass(frozen=True)
class SweepSettings:
    points: int
    algorithms: tuple[AlgorithmEntry, ...]
    reference: tuple[float, ...] | None
    front_points: int


@dataclass(frozen=True)
class ExperimentConfig:
    """A validated experiment. ``raw`` is the normalized tree it came from (saved with the results,
    and what ``--resume`` reloads)."""

    name: str
    problem_name: str
    problem_kwargs: dict
    problem: object  # firm_core.problems.Problem, built during validation
    run: object  # firm_core.federated.config.RunConfig
    seed: int
    algorithms: tuple[AlgorithmEntry, ...]
    sweep: SweepSettings
    raw: dict = field(repr=False)

    def to_dict(self) -> dict:
        return copy.deepcopy(self.raw)


# --- error translation ---------------------------------------------------------------------------

_BACKTICK_RE = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")


def translate_error(exc: Exception, paths: Mapping[str, str], fallback: str) -> ConfigError:
    """Turn a library error such as "AlgorithmConfig: `beta` must be >= 0, got -1" into a ConfigError
    on the field path (``paths[name]``) of the first backticked field name found; else on ``fallback``."""
    message = str(exc)
    for match in _BACKTICK_RE.finditer(message):
        if match.group(1) in paths:
            rest = message[match.end():].strip()
            return ConfigError(paths[match.group(1)], rest)
    return ConfigError(fallback, f"is invalid: {message}")


# --- sections --------------------------------------------------------------------------------------

def _algorithm_fields() -> tuple[str, ...]:
    from firm_core.federated.config import AlgorithmConfig

    return tuple(f.name for f in dataclasses.fields(AlgorithmConfig))


#: Keys of [problem] that are not arguments of the problem: the registered `name` or your `factory`,
#: and `check` (run check_problem on a factory's problem before any round; default true).
PROBLEM_KEYS = ("name", "factory", "check")


def _check_problem(raw, path: str = "problem"):
    """[problem]: ``name`` (a registered problem) or ``factory`` ("module:callable" or
    "path/to/file.py:callable", a relative path from the working directory), plus the keyword
    arguments of that problem. Returns (label, kwargs, problem, normalized table)."""
    table = schema.require_mapping(raw, path)
    if "factory" in table:
        return _check_factory_problem(table, path)
    from firm_core.problems import PROBLEMS, make_problem, problem_parameters

    if "name" not in table:
        raise ConfigError(join(path, "name"), "is required but missing (or give `factory` = \"module:callable\" "
                                              "or \"path/to/file.py:callable\" for your own problem)")
    name = schema.check_str(table["name"], join(path, "name"), choices=PROBLEMS)
    try:
        parameters = problem_parameters(name)
    except ImportError as exc:
        raise ConfigError(join(path, "name"), f"names a problem that cannot be loaded here ({exc}), got {name!r}") from None
    schema.check_known_keys(table, path, ["name", *parameters])
    kwargs = {k: v for k, v in table.items() if k != "name"}
    try:
        problem = make_problem(name, **kwargs)
    except (TypeError, ValueError) as exc:
        raise translate_error(exc, {k: join(path, k) for k in kwargs}, path) from None
    return name, kwargs, problem, dict(table)


def _check_factory_problem(table, path: str):
    from firm_core.problems.check import check_problem
    from firm_core.problems.registry import factory_parameters, problem_from_factory, resolve_factory_path

    fpath = join(path, "factory")
    spec = schema.check_str(table["factory"], fpath)
    if "name" in table:
        raise ConfigError(join(path, "name"), f"cannot be given with `factory` (one or the other), got {schema.show(table['name'])}")
    check = table.get("check", True)
    if not isinstance(check, bool):
        raise ConfigError(join(path, "check"), f"must be true or false, got {schema.show(check)}")
    kwargs = {k: v for k, v in table.items() if k not in PROBLEM_KEYS}
    try:
        valid = factory_parameters(spec)
        if valid is not None:
            schema.check_known_keys(table, path, [*PROBLEM_KEYS, *valid])
        problem = problem_from_factory(spec, **kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        translated = translate_error(exc, {k: join(path, k) for k in kwargs}, fpath)
        if translated.path != fpath:
            raise translated from None
        raise ConfigError(fpath, str(exc).removeprefix("problem factory ")) from None
    if check:
        report = check_problem(problem)
        if not report.ok:
            wrong = "; ".join(f"{o.name}: {o.detail}" for o in report.failures)
            raise ConfigError(fpath, f"{table['factory']!r} builds a problem that fails check_problem: {wrong} "
                                     f"(fix it, or set check = false in [{path}] to run it anyway)")
    absolute = resolve_factory_path(spec)
    return absolute, kwargs, problem, {**dict(table), "factory": absolute}


def _check_run(raw, path: str = "run"):
    from firm_core.federated.config import RunConfig

    table = schema.require_mapping(raw, path)
    schema.check_known_keys(table, path, RUN_FIELDS)
    seed = schema.check_int(table.get("seed", 0), join(path, "seed"), minimum=0)
    kwargs = {}
    if "rounds" in table:
        kwargs["rounds"] = schema.check_int(table["rounds"], join(path, "rounds"), minimum=1)
    if table.get("checkpoint_every") is not None:
        kwargs["checkpoint_every"] = schema.check_int(table["checkpoint_every"], join(path, "checkpoint_every"), minimum=1)
    if "eval_every" in table:
        kwargs["eval_every"] = schema.check_int(table["eval_every"], join(path, "eval_every"), minimum=1)
    return kwargs, seed, RunConfig


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "algorithm"


def _check_algorithms(raw, path: str, defaults: Mapping, defaults_path: str, seed: int, problem, *,
                      forbidden: tuple[str, ...] = ()) -> tuple[AlgorithmEntry, ...]:
    from firm_core.federated.config import AlgorithmConfig

    allowed = _algorithm_fields()
    items = schema.require_list(raw, path, min_len=1)
    entries: list[AlgorithmEntry] = []
    seen: dict[str, str] = {}
    for i, item in enumerate(items):
        ipath = join(path, i)
        table = schema.require_mapping(item, ipath)
        schema.check_known_keys(table, ipath, allowed)
        schema.require_key(table, "name", ipath)
        for key in forbidden:
            if key in table:
                raise ConfigError(join(ipath, key), f"is set by the sweep for every point; remove it (got {schema.show(table[key])})")
        merged = {"seed": seed, **defaults, **table}
        paths = {k: join(ipath, k) if k in table else join(defaults_path, k) if k in defaults else join("run", "seed")
                 for k in merged}
        try:
            cfg = AlgorithmConfig(**merged)
            cfg.check_problem(problem)
        except (TypeError, ValueError) as exc:
            raise translate_error(exc, paths, ipath) from None
        key = _slug(cfg.display_name)
        if key in seen:
            raise ConfigError(join(ipath, "label"), f"must be unique: {cfg.display_name!r} is also the label of {seen[key]} "
                                                    "(set a distinct `label`)")
        seen[key] = ipath
        entries.append(AlgorithmEntry(key=key, config=cfg))
    return tuple(entries)


def _check_defaults(raw, path: str = "defaults") -> dict:
    table = schema.require_mapping(raw, path)
    schema.check_known_keys(table, path, [f for f in _algorithm_fields() if f not in ("name", "label")])
    return dict(table)


def _check_sweep(raw, defaults: Mapping, seed: int, problem, path: str = "sweep") -> SweepSettings:
    table = schema.require_mapping(raw, path)
    schema.check_known_keys(table, path, SWEEP_FIELDS)
    points = schema.check_int(table.get("points", DEFAULT_SWEEP_POINTS), join(path, "points"), minimum=2)
    front_points = schema.check_int(table.get("front_points", DEFAULT_FRONT_POINTS), join(path, "front_points"), minimum=2)
    reference = table.get("reference")
    if reference is not None:
        reference = tuple(schema.check_float_list(reference, join(path, "reference"), length=int(problem.num_objectives)))
    algos = table.get("algorithms", [dict(a) for a in DEFAULT_SWEEP_ALGORITHMS])
    entries = _check_algorithms(algos, join(path, "algorithms"), defaults, "defaults", seed, problem,
                                forbidden=SWEEP_OWNED_FIELDS)
    return SweepSettings(points=points, algorithms=entries, reference=reference, front_points=front_points)


# --- the whole tree --------------------------------------------------------------------------------

def apply_overrides(raw: Mapping, *, name: str | None = None, rounds: int | None = None,
                    points: int | None = None) -> dict:
    """A copy of ``raw`` with command-line overrides applied (validated with the rest)."""
    out = copy.deepcopy(dict(raw))
    if name is not None:
        out["name"] = name
    if rounds is not None:
        out["run"] = {**dict(out.get("run") or {}), "rounds": rounds}
    if points is not None:
        out["sweep"] = {**dict(out.get("sweep") or {}), "points": points}
    return out


def validate_config(raw: Mapping, *, default_name: str = "default") -> ExperimentConfig:
    """Check every field of ``raw`` and build the problem and engine configs; raise ConfigError on the
    first bad field. Nothing runs here beyond constructing the problem."""
    schema.check_tree(raw)
    table = schema.require_mapping(raw, "")
    schema.check_known_keys(table, "", SECTIONS)
    name = table.get("name", default_name)
    schema.check_str(name, "name")
    if not _NAME_RE.match(name):
        raise ConfigError("name", f"must start with a letter or digit and hold only letters, digits, '.', '-', '_' "
                                  f"(it names the output folder), got {name!r}")
    problem_name, problem_kwargs, problem, problem_table = _check_problem(schema.require_key(table, "problem", ""))
    run_kwargs, seed, run_cls = _check_run(table.get("run", {}))
    defaults = _check_defaults(table.get("defaults", {}))
    algorithms = _check_algorithms(schema.require_key(table, "algorithms", ""), "algorithms", defaults, "defaults",
                                   seed, problem)
    sweep = _check_sweep(table.get("sweep", {}), defaults, seed, problem)
    try:
        run = run_cls(name=name, **run_kwargs)
    except (TypeError, ValueError) as exc:
        raise translate_error(exc, {k: join("run", k) for k in run_kwargs} | {"name": "name"}, "run") from None
    normalized = copy.deepcopy(dict(table))
    normalized["name"] = name
    normalized["problem"] = problem_table  # a factory's file path made absolute, so --resume finds it
    return ExperimentConfig(name=name, problem_name=problem_name, problem_kwargs=problem_kwargs, problem=problem,
                            run=run, seed=seed, algorithms=algorithms, sweep=sweep, raw=normalized)


# --- files -----------------------------------------------------------------------------------------

#: File extensions ``load_config_file`` reads, and how.
CONFIG_FORMATS = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".json": "json"}
#: Largest config file read (bytes); real configs are a few hundred bytes.
MAX_CONFIG_BYTES = 1 << 20


def _yaml_expanded_size(root) -> int:
    """Number of nodes the YAML node graph ``root`` expands to, every alias use counted, computed on the
    graph (each node once), so an exponential "billion laughs" document costs nothing to measure.
    ConfigError on a recursive alias."""
    from yaml.nodes import MappingNode, SequenceNode

    def children(node):
        if isinstance(node, MappingNode):
            return [n for pair in node.value for n in pair]
        return list(node.value) if isinstance(node, SequenceNode) else []

    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, finished = stack.pop()
        if finished:
            on_path.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c in children(node))
            continue
        if id(node) in sizes:
            continue
        on_path.add(id(node))
        stack.append((node, True))
        for child in children(node):
            if id(child) in on_path:
                raise ConfigError("", "holds a recursive YAML alias (an anchor used inside itself)")
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(root)]


def _load_yaml(text: str):
    """yaml.safe_load with alias expansion bounded before anything is built."""
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _yaml_expanded_size(node)
        if size > schema.MAX_CONFIG_NODES:
            raise ConfigError("", f"expands to {size:.3g} values through its YAML aliases (at most "
                                  f"{schema.MAX_CONFIG_NODES} allowed); remove the nested aliases")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError("", f"config file {str(path)!r} is {size} bytes, more than the {MAX_CONFIG_BYTES} "
                                  "a configuration may have")
        with open(path, "rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError("", f"config file {str(path)!r} cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError("", f"config file {str(path)!r} is more than the {MAX_CONFIG_BYTES} bytes a configuration "
                              "may have")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError("", f"config file {str(path)!r} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def read_config_file(path) -> dict:
    """Parse a TOML / YAML / JSON file (by extension) into a dict; ConfigError names the file on failure.

    Bounded: at most :data:`MAX_CONFIG_BYTES` bytes, :data:`~firm.experiments.schema.MAX_CONFIG_NODES`
    values after YAML alias expansion (measured before the document is built) and 64-bit integers."""
    path = Path(path)
    fmt = CONFIG_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError("", f"config file {str(path)!r}: unknown extension {schema.show(path.suffix)}; "
                              f"use one of {', '.join(CONFIG_FORMATS)}")
    text = _read_text(path)
    try:
        if fmt == "toml":
            import tomllib

            data = tomllib.loads(text)
        elif fmt == "yaml":
            data = _load_yaml(text)
        else:
            import json

            data = json.loads(text)
    except ConfigError as exc:
        raise ConfigError("", f"config file {str(path)!r} {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any parser error becomes a message naming the file
        raise ConfigError("", f"config file {str(path)!r} is not valid {fmt.upper()}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError("", f"config file {str(path)!r} must hold a table at the top level, got {type(data).__name__}")
    try:
        schema.check_tree(data)
    except ConfigError as exc:
        raise ConfigError("", f"config file {str(path)!r}: {exc}") from None
    return data


def load_config(path=None, **overrides) -> ExperimentConfig:
    """Read and validate a config file (the embedded default when ``path`` is None), with overrides
    (``name``, ``rounds``, ``points``) applied before validation."""
    from .defaults import DEFAULT_EXPERIMENT

    if path is None:
        raw, default_name = DEFAULT_EXPERIMENT, "default"
    else:
        raw, default_name = read_config_file(path), _slug(Path(path).stem).replace("_", "-")
    return validate_config(apply_overrides(raw, **overrides), default_name=default_name)
