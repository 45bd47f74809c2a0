"""The FIRM ClientApp: dispatches each train message to its backend's train handler.

The train config's ``backend`` names a registered backend (``registry``); its ``client`` job handles
the message: "numpy" runs firm_core's local update (``numpy_client``), "rlhf" the LoRA RLHF steps
(``rlhf.client``; torch is imported only then). A "query" message is answered with the node's
``partition-id`` (the server's discovery). Client-side DP clipping (Flower's ``fixedclipping_mod``)
runs when the server's config asks for it.
"""

from __future__ import annotations

from flwr.app import Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.clientapp.mod import fixedclipping_mod
from flwr.supercore.differential_privacy import KEY_CLIPPING_NORM

from .protocol import CLIENT_ID_KEY, CONFIG_KEY, METRICS_KEY, message_backend, partition_id
from .registry import load_job

#: Backend of a train message that carries no train config (it then fails in the numpy handler,
#: which names what is missing).
DEFAULT_BACKEND = "numpy"


def train_by_backend(message: Message, context: Context) -> Message:
    """Run the train handler of the message's ``backend`` (see the module docstring)."""
    backend = message_backend(message, DEFAULT_BACKEND)
    return load_job(backend, "client").train(message, context)


def report_partition(message: Message, context: Context) -> Message:
    """Answer the server's discovery query with this node's partition id (``partition-id``)."""
    cid = partition_id(context.node_config)
    return Message(RecordDict({METRICS_KEY: MetricRecord({CLIENT_ID_KEY: cid})}), reply_to=message)


def optional_fixedclipping_mod(message: Message, context: Context, call_next):
    """Flower's ``fixedclipping_mod`` when the server asked for client-side clipping (the train
    config carries ``clipping_norm``); a plain pass-through otherwise."""
    config = message.content.config_records.get(CONFIG_KEY) if message.has_content() else None
    if config is not None and KEY_CLIPPING_NORM in config:
        return fixedclipping_mod(message, context, call_next)
    return call_next(message, context)


def make_client_app(train_fn=train_by_backend) -> ClientApp:
    """A ClientApp whose train handler is ``train_fn`` (default :func:`train_by_backend`), with optional
    client-side DP clipping."""
    client_app = ClientApp(mods=[optional_fixedclipping_mod])

    @client_app.train()
    def train(message: Message, context: Context) -> Message:
        return train_fn(message, context)

    @client_app.query()
    def query(message: Message, context: Context) -> Message:
        return report_partition(message, context)

    return client_app


#: The ClientApp the Flower app points to (``[tool.flwr.app.components] clientapp``).
app = make_client_app()
