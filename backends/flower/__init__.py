"""FIRM on Flower (flwr 1.42, Message API).

Thin layer: the server strategy samples clients, serializes the iterate, validates every reply and
calls ``firm_core.federated`` for the math; the ClientApp runs the same local update as the in-memory
engine. Importing this package needs the ``[flower]`` extra (``pip install -e '.[flower]'``).

Modules: ``protocol`` (the message / run-config format), ``registry`` (backends: one module per
job, imported when needed), ``settings`` (validated run settings), ``strategy`` (FirmStrategy),
``aggregation`` (participants, weights, the guarded average), ``discovery`` (which node serves
which partition), ``round_record`` (the engine's RoundRecord),
``validation`` (reply checks), ``records`` (arrays and message sizes), ``problems`` /
``numpy_client`` (the numpy backend), ``rlhf`` (the torch / LoRA backend: ``settings``, ``client``,
``strategy``), ``client_state``, ``client_app`` / ``server_app`` (the Flower app; ``app/`` holds its
pyproject), ``inprocess`` (a Grid that runs ClientApps in this process), ``privacy`` (Flower's
differential-privacy wrappers), ``launch`` (``flwr run`` against a SuperLink it starts and stops),
``cli`` / ``cli_checks`` (``firm flower``). User guide: docs/flower.md.
"""

try:
    import flwr  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "backends.flower needs Flower: install the [flower] extra, e.g. `pip install -e '.[flower]'`"
    ) from exc
