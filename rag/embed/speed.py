"""What makes embedding fast on a CPU: whether it computes bfloat16 natively, and batches of texts of similar
length under a token budget (little time goes into padding). Measured by `rag bench` (bench/embedding.py)."""

from __future__ import annotations

from collections.abc import Sequence


def native_bf16(device: str = "cpu") -> bool:
    """Whether `device` computes bfloat16 matrix products in hardware (else bfloat16 would be emulated, and slow)."""
    import torch

    if device.startswith("cuda"):
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device != "cpu":
        return False
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    if cpu is not None and any(hasattr(cpu, c) for c in checks):
        return any(bool(getattr(cpu, c)()) for c in checks if hasattr(cpu, c))
    try:  # older torch: read the flags the kernel reports
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            flags = next((line for line in fh if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def length_batches(lengths: Sequence[int], *, max_items: int, max_tokens: int) -> list[list[int]]:
    """Positions of `lengths` grouped into batches of similar length, longest first.

    A batch holds at most `max_items` texts and at most `max_tokens` padded tokens (its longest text's
    length times its size), but always at least one text.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    batch: list[int] = []
    for i in order:
        width = lengths[batch[0]] if batch else lengths[i]
        if batch and (len(batch) >= max_items or (len(batch) + 1) * width > max_tokens):
            batches.append(batch)
            batch = []
        batch.append(i)
    if batch:
        batches.append(batch)
    return batches
