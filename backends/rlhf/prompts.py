"""Prompts: the mixes shipped with the project, prompt files, and splitting prompts across clients.

Shipped (written for this project by its authors, Apache-2.0 like the rest of firm; no external dataset):
- ``PROMPT_MIXES``: two mixes of sentence openings for the tiny model's sentiment-vs-brevity task.
  ``opinions`` invites evaluative text (where sentiment moves easily), ``documentation`` starts neutral
  technical sentences in the register of the tiny model's pretraining text (Python's own help topics).
- ``alignment_prompts()``: 48 requests for the helpful-vs-harmless task (``data/alignment_prompts.jsonl``;
  a ``category`` column says ``safety`` or ``helpfulness``).

From files: ``load_prompts(path)`` reads ``.txt`` (one prompt per line), ``.jsonl`` (one JSON object per
line, prompt under ``field``) and, through the ``datasets`` library, ``.json`` / ``.csv`` / ``.tsv`` /
``.parquet``. ``split_prompts`` gives each client its share: i.i.d., Dirichlet, or by a column.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np

PROMPT_MIXES: dict[str, tuple[str, ...]] = {
    "opinions": (
        "I think the new version is",
        "My experience with this library was",
        "Honestly, the documentation is",
        "The best thing about this language is",
        "After a week of using it, I feel",
        "What I like most about the module is",
        "The worst part of the update was",
        "Our team found the release",
        "To be fair, the error messages are",
        "In my opinion the syntax is",
        "Compared to the old interpreter, this one is",
        "The tutorial made me feel",
        "Working with these objects is",
        "The community around the project is",
        "My first impression of the class was",
        "I would describe the new feature as",
    ),
    "documentation": (
        "The function returns",
        "When the statement is executed,",
        "An object of this type",
        "The following example shows",
        "If the argument is omitted,",
        "Each element of the sequence",
        "The method is called when",
        "A module can contain",
        "The value of the attribute",
        "This operation raises an exception if",
        "The interpreter evaluates the expression",
        "A class definition creates",
        "The built-in type supports",
        "When a name is bound,",
        "The result of the comparison",
        "The default value is",
    ),
}


def client_prompt_pools(num_clients: int, heterogeneity: float = 0.8, seed: int = 0) -> list[list[str]]:
    """Prompt pool per client: client i draws mostly from one mix (``heterogeneity`` of its pool, the
    rest from the others), alternating mixes across clients. heterogeneity = 1/len(mixes) is i.i.d."""
    if num_clients < 1:
        raise ValueError(f"`num_clients` must be >= 1, got {num_clients}")
    if not 0.0 <= heterogeneity <= 1.0:
        raise ValueError(f"`heterogeneity` must be in [0, 1], got {heterogeneity}")
    names = list(PROMPT_MIXES)
    rng = np.random.default_rng(seed)
    pools = []
    for i in range(num_clients):
        home = names[i % len(names)]
        others = [p for n in names if n != home for p in PROMPT_MIXES[n]]
        n_home = len(PROMPT_MIXES[home])
        n_other = int(round(n_home * (1 - heterogeneity) / max(heterogeneity, 1e-9)))
        n_other = min(n_other, len(others))
        picked = list(rng.choice(others, size=n_other, replace=False)) if n_other else []
        pools.append(list(PROMPT_MIXES[home]) + [str(p) for p in picked])
    return pools


def all_prompts() -> list[str]:
    return [p for mix in PROMPT_MIXES.values() for p in mix]


# --------------------------------------------------------------------------------------------------
# prompt files

#: file suffix -> ``datasets`` builder (the rest of the formats read without ``datasets``)
DATASETS_BUILDERS = {".json": "json", ".csv": "csv", ".tsv": "csv", ".parquet": "parquet"}
PROMPT_FILE_SUFFIXES = (".txt", ".jsonl", *DATASETS_BUILDERS)
ALIGNMENT_PROMPTS = "alignment_prompts.jsonl"


class PromptFileError(ValueError):
    """A prompts file that cannot be read, or holds no usable prompt (the message names the file)."""


def _read_jsonl(path: Path, field: str) -> list[dict]:
    records = []
    with open(path, encoding="utf-8-sig") as f:  # a byte-order mark is not part of a prompt
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise PromptFileError(f"prompts file {path}: line {lineno} is not valid JSON ({exc.msg})") from None
            if not isinstance(rec, dict):
                raise PromptFileError(f"prompts file {path}: line {lineno} must be a JSON object with a "
                                      f"{field!r} field, got {type(rec).__name__}")
            records.append(rec)
    return records


def _read_with_datasets(path: Path, suffix: str) -> list[dict]:
    try:
        import datasets
    except ImportError:
        raise PromptFileError(f"prompts file {path}: reading {suffix} files needs the `datasets` library: "
                              "pip install 'firm[align]' (or use .txt / .jsonl)") from None
    import tempfile

    builder = DATASETS_BUILDERS[suffix]
    kwargs = {"delimiter": "\t"} if suffix == ".tsv" else {}
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        with tempfile.TemporaryDirectory() as cache:
            table = datasets.load_dataset(builder, data_files=str(path), split="train",
                                          cache_dir=cache, **kwargs)
            return table.to_list()
    except Exception as exc:  # the datasets/pyarrow readers raise many types for a malformed file
        raise PromptFileError(f"prompts file {path}: cannot read it as {builder} "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    finally:
        if bars:
            datasets.enable_progress_bars()


def load_prompt_records(path, *, field: str = "prompt") -> list[dict]:
    """Records (dicts) of a prompts file, each with a non-empty string prompt under ``field`` (stripped).

    ``.txt``: one prompt per line (records ``{field: line}``); ``.jsonl``: one JSON object per line;
    ``.json`` / ``.csv`` / ``.tsv`` / ``.parquet``: read by ``datasets.load_dataset(builder,
    data_files=path)``. Blank prompts are skipped; a record without ``field``, an unreadable file or a file
    with no usable prompt raises :class:`PromptFileError` (a ValueError) naming the file.
    """
    if not isinstance(field, str) or not field:
        raise ValueError(f"`field` must be a non-empty column name, got {field!r}")
    path = Path(path).expanduser()
    if not path.is_file():
        raise PromptFileError(f"prompts file {path}: " + ("is a directory, expected a file" if path.is_dir()
                                                          else "does not exist"))
    suffix = path.suffix.lower()
    if suffix == ".txt":
        with open(path, encoding="utf-8-sig") as f:  # a byte-order mark is not part of a prompt
            records = [{field: line} for line in f.read().splitlines()]
    elif suffix == ".jsonl":
        records = _read_jsonl(path, field)
    elif suffix in DATASETS_BUILDERS:
        records = _read_with_datasets(path, suffix)
    else:
        raise PromptFileError(f"prompts file {path}: unsupported suffix {path.suffix!r}; "
                              f"use one of {', '.join(PROMPT_FILE_SUFFIXES)}")
    out = []
    for i, rec in enumerate(records):
        if field not in rec:
            raise PromptFileError(f"prompts file {path}: record {i + 1} has no {field!r} field "
                                  f"(it has {sorted(rec)}); name the prompt column with `field`")
        value = rec[field]
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if not isinstance(value, str):
            raise PromptFileError(f"prompts file {path}: record {i + 1}: {field!r} must be a string, "
                                  f"got {type(value).__name__}")
        out.append({**rec, field: value.strip()})
    if not out:
        raise PromptFileError(f"prompts file {path}: no usable prompt (no non-empty {field!r} in "
                              f"{len(records)} records)")
    return out


def load_prompts(path, *, field: str = "prompt") -> list[str]:
    """The prompts of a file (see :func:`load_prompt_records` for the formats), in file order."""
    return [rec[field] for rec in load_prompt_records(path, field=field)]


def alignment_prompt_records() -> list[dict]:
    """The shipped helpful-vs-harmless prompt set: records with ``prompt`` and ``category``."""
    with resources.as_file(resources.files(__package__) / "data" / ALIGNMENT_PROMPTS) as path:
        return load_prompt_records(path)


def alignment_prompts() -> list[str]:
    """The 48 shipped prompts of the helpful-vs-harmless task (24 ``safety``, 24 ``helpfulness``)."""
    return [rec["prompt"] for rec in alignment_prompt_records()]


# --------------------------------------------------------------------------------------------------
# splitting prompts across clients

#: redraws of a Dirichlet split before giving up on one that leaves no client empty
DIRICHLET_MAX_DRAWS = 1000


def _deal(indices: Sequence[int], num_clients: int) -> list[list[int]]:
    return [list(indices[i::num_clients]) for i in range(num_clients)]


def _dirichlet_counts(rng, n: int, num_clients: int, alpha: float) -> np.ndarray:
    return rng.multinomial(n, rng.dirichlet(np.full(num_clients, alpha)))


def split_prompts(prompts: Sequence[str], num_clients: int, *, alpha: float | None = None,
                  column_values: Sequence | None = None, seed: int = 0) -> list[list[str]]:
    """Partition ``prompts`` into ``num_clients`` non-empty pools (every prompt in exactly one pool).

    - neither ``alpha`` nor ``column_values``: i.i.d. (shuffled, dealt in turn; sizes differ by <= 1);
    - ``column_values`` only: by column: the distinct values (sorted) are dealt to clients in turn, so
      each client holds whole groups (needs num_clients <= number of distinct values);
    - ``alpha`` only: quantity skew: client shares q ~ Dirichlet(alpha 1_N), sizes 1 + Multinomial(n - N, q);
    - both: label skew (Hsu et al. 2019): for each value v, its prompts go to clients with shares
      q_v ~ Dirichlet(alpha 1_N); redrawn (up to DIRICHLET_MAX_DRAWS times) until no client is empty.
    Small alpha concentrates, large alpha approaches i.i.d. Deterministic in ``seed``.
    """
    prompts = list(prompts)
    n = len(prompts)
    if isinstance(num_clients, bool) or not isinstance(num_clients, (int, np.integer)):
        raise TypeError(f"`num_clients` must be an integer, got {type(num_clients).__name__}")
    if not 1 <= num_clients <= max(n, 1):
        raise ValueError(f"`num_clients` must be between 1 and the number of prompts ({n}), got {num_clients}")
    if alpha is not None and not (isinstance(alpha, (int, float)) and np.isfinite(alpha) and alpha > 0):
        raise ValueError(f"`alpha` must be a finite number > 0, got {alpha!r}")
    if column_values is not None and len(column_values) != n:
        raise ValueError(f"`column_values` has {len(column_values)} entries for {n} prompts")
    rng = np.random.default_rng(seed)
    if column_values is None and alpha is None:
        order = rng.permutation(n)
        return [[prompts[i] for i in sorted(idx)] for idx in _deal(order, num_clients)]
    if column_values is None:
        order = rng.permutation(n)
        sizes = 1 + _dirichlet_counts(rng, n - num_clients, num_clients, alpha)
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        return [[prompts[i] for i in sorted(order[a:b])] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    values = sorted({str(v) for v in column_values})
    groups = {v: [i for i, c in enumerate(column_values) if str(c) == v] for v in values}
    if alpha is None:
        if num_clients > len(values):
            raise ValueError(f"`num_clients` ({num_clients}) is more than the {len(values)} distinct column "
                             f"values {values[:10]}: each client needs a value of its own (or pass `alpha`)")
        pools = [[i for v in vs for i in groups[v]] for vs in _deal(values, num_clients)]
        return [[prompts[i] for i in sorted(p)] for p in pools]
    for _ in range(DIRICHLET_MAX_DRAWS):
        pools = [[] for _ in range(num_clients)]
        for v in values:
            idx = rng.permutation(groups[v])
            bounds = np.concatenate([[0], np.cumsum(_dirichlet_counts(rng, len(idx), num_clients, alpha))])
            for c in range(num_clients):
                pools[c].extend(idx[bounds[c]:bounds[c + 1]])
        if all(pools):
            return [[prompts[i] for i in sorted(p)] for p in pools]
    raise ValueError(f"`alpha` = {alpha} left some client without prompts in {DIRICHLET_MAX_DRAWS} draws "
                     f"({n} prompts, {num_clients} clients): use a larger alpha or fewer clients")
