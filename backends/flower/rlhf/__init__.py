"""The torch / LoRA backend of the Flower app: FIRM's local RLHF update on a LoRA adapter.

Selected with ``FlowerSettings(backend="rlhf", problem={"name": "rlhf", ...})``; needs the [torch]
extra. One module per job, loaded through ``backends.flower.registry``: ``settings`` (the task spec
and the built task), ``client`` (the train handler), ``strategy`` (``AdapterStrategy``). Only the
adapter travels: an ArrayRecord with one Array per LoRA tensor (PEFT names, sorted, own dtype); its
flat float64 vector is what ``firm_core.federated.server.aggregate`` averages.
"""
