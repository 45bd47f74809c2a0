"""Prompts shipped with the project.

Written for this project by its authors (Apache-2.0, like the rest of firm); no external dataset.
Two mixes with different topics give the federated clients heterogeneous data: ``opinions`` invites
evaluative text (where sentiment moves easily), ``documentation`` starts neutral technical sentences in
the register of the tiny model's pretraining text (Python's own help topics).
"""

from __future__ import annotations

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
