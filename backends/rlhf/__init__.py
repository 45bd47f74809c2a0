"""LoRA RLHF backend: federated multi-objective RLHF of a PEFT LoRA adapter on the federated engine.

Modules (each imports torch / transformers / peft itself, so importing this package is free):
    tiny_model   offline default policy: tiny GPT-2 + byte-level BPE built from Python's own docs
    policy       base model loading (tiny / smollm2 / local dir), LoRA attach, adapter state I/O
    prompts      prompt mixes shipped with the project, per-client pools
    rewards      reward sources: positive_sentiment (VADER), brevity, callables, reward models
    rollout      group sampling and per-token log-probabilities (policy and reference)
    losses       group-normalized advantages, per-objective policy-gradient losses with KL
    trainer      one client's local steps (firm / local_mgda / fedavg_ls), per-objective gradients
    device       --device auto|cpu|cuda|cuda:N and --dtype float32|bfloat16|float16
    client_data  per-client prompt mixes and preferences
    task         RLHFTask: the engine's client task, x = the flattened adapter (every algorithm)
    build        LLMTaskConfig and build_task (model on its device, adapter, rewards, pools)
    experiment   the `firm rlhf` job on firm_core.federated.run; cli: the click command

Needs the torch extra: ``pip install 'firm[torch]'``.
"""
