"""LoRA RLHF backend: federated multi-objective RLHF of a PEFT LoRA adapter with FIRM.

Modules (each imports torch / transformers / peft itself, so importing this package is free):
    tiny_model   offline default policy: tiny GPT-2 + byte-level BPE built from Python's own docs
    policy       base model loading (tiny / smollm2 / local dir), LoRA attach, adapter state I/O
    prompts      prompt mixes shipped with the project, per-client pools
    rewards      reward sources: positive_sentiment (VADER), brevity, callables, reward models
    rollout      group sampling and per-token log-probabilities (policy and reference)
    losses       group-normalized advantages, per-objective policy-gradient losses with KL
    trainer      one client's local steps (firm / local_mgda / fedavg_ls)
    federated    simulated clients sharing one base model; server aggregation via firm_core
    experiment   the `firm rlhf` job; cli: the click command

Needs the torch extra: ``pip install 'firm[torch]'``.
"""
