"""FIRM on Flower (flwr 1.42, Message API).

Thin layer: the server strategy samples clients, serializes the iterate, validates every reply and
calls ``firm_core.federated`` for the math; the ClientApp runs the same local update as the in-memory
engine. Importing this package needs the ``[flower]`` extra (``pip install -e '.[flower]'``).

Modules: ``records`` (iterate / diagnostics <-> Flower records, message sizes), ``settings`` (validated
run settings and their ConfigRecord form), ``validation`` (reply checks), ``strategy`` (FirmStrategy,
with per-round checkpoints in the engine's format and resume), ``client_app`` / ``server_app`` (the
Flower app; ``app/`` holds its pyproject), ``inprocess`` (a Grid that runs ClientApps in this
process, for tests and debugging), ``privacy`` (Flower's differential-privacy wrappers), ``launch``
(``flwr run`` against a SuperLink it starts and stops), ``cli`` (``firm flower``), ``rlhf`` (the torch /
LoRA backend: LoRA RLHF clients and the adapter strategy; needs the [torch] extra). See README.md.
"""

try:
    import flwr  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "backends.flower needs Flower: install the [flower] extra, e.g. `pip install -e '.[flower]'`"
    ) from exc
