"""FIRM on Flower (flwr 1.42, Message API).

Thin layer: the server strategy samples clients, serializes the iterate, validates every reply and
calls ``firm_core.federated`` for the math; the ClientApp runs the same local update as the in-memory
engine. Importing this package needs the ``[flower]`` extra (``pip install -e '.[flower]'``).

Modules: ``records`` (iterate / diagnostics <-> Flower records, message sizes), ``settings`` (validated
run settings and their ConfigRecord form), ``validation`` (reply checks), ``strategy`` (FirmStrategy),
``client_app`` / ``server_app`` (the Flower app), ``inprocess`` (a Grid that runs ClientApps in this
process, for tests and debugging), ``checkpoint`` (per-round checkpoints and resume), ``privacy``
(Flower's differential-privacy wrappers), ``simulation`` (run_simulation wrapper), ``cli``.
"""

try:
    import flwr  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "backends.flower needs Flower: install the [flower] extra, e.g. `pip install -e '.[flower]'`"
    ) from exc
