"""Figures for the generative answerer: what generating and checking add to an extractive answer.

    python bench/generative.py [--generator PATH] [--device auto|cpu|cuda] [--repeat N] [--out FILE]

Without --generator a tiny random-weight model is built in a temporary folder (its text is gibberish, so the
figures are the machinery's: prompt rendering, prefill, decode loop, streaming, checking). Prints medians of
extractive answer time, generation time, time to the first streamed piece, tokens per second and checker time,
for a few questions over the seed article, on the real MiniLM index.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

QUESTIONS = [
    "When did Turkey and Syria sign the memorandum of understanding?",
    "Who leads HTS?",
    "Why did the al-Assad regime collapse?",
    "What does the agreement between Turkey and Syria cover?",
]


def _time_one(engine: Any, gen: Any, question: str, rows: dict[str, list[float]]) -> str:
    """Time each step of one generated answer into `rows`; return which answerer produced it."""
    from rag.generative.answer import finish, prepare

    t = time.perf_counter()
    base = engine.ask(question)
    rows["extractive_ms"].append((time.perf_counter() - t) * 1000)
    prompt = prepare(engine.index, base, gen)
    rows["prompt_tokens"].append(gen.prompt_tokens(list(prompt.messages)))
    t = time.perf_counter()
    text = gen.generate(list(prompt.messages))
    took = time.perf_counter() - t
    rows["generate_ms"].append(took * 1000)
    n_new = len(gen.tokenizer(text, add_special_tokens=False)["input_ids"])
    rows["tokens_per_s"].append(n_new / took if took else 0.0)
    t = time.perf_counter()
    stream = gen.stream(list(prompt.messages))
    next(stream, None)
    rows["first_piece_ms"].append((time.perf_counter() - t) * 1000)
    stream.close()
    t = time.perf_counter()
    answer = finish(engine.index, base, prompt, text, embedder=engine.embedder)
    rows["ground_ms"].append((time.perf_counter() - t) * 1000)
    return str(answer.answerer)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--generator", help="model folder (default: a tiny random-weight model built now)")
    p.add_argument("--device", default="auto")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = p.parse_args(argv)

    from rag.collection import build_index
    from rag.embed.model import SentenceTransformerEmbedder
    from rag.engine import Engine
    from rag.generative.model import TransformersGenerator
    from rag.index.index import Index

    tmp = Path(tempfile.mkdtemp(prefix="bench-generative-"))
    seeds = ROOT / "seeds"
    if args.generator is None:
        from tiny_lm import build_tiny_model

        text = next(seeds.glob("*.txt")).read_text(encoding="utf-8")
        args.generator = str(build_tiny_model(tmp / "tiny", texts=[text], kind="llama", max_new_tokens=None))
    embedder = SentenceTransformerEmbedder()
    build_index(tmp / "index", [seeds], embedder=embedder)
    engine = Engine(Index.load(tmp / "index"), embedder)

    t0 = time.perf_counter()
    gen = TransformersGenerator(args.generator, device=args.device, max_new_tokens=args.max_new_tokens).load()
    load_s = time.perf_counter() - t0
    rows: dict[str, list[float]] = {k: [] for k in
                                    ("extractive_ms", "generate_ms", "first_piece_ms", "tokens_per_s", "ground_ms",
                                     "prompt_tokens")}
    answerers = []
    for _ in range(args.repeat):
        for q in QUESTIONS:
            answerers.append(_time_one(engine, gen, q, rows))
    figures = {
        "generator": gen.name, "device": gen.device, "dtype": gen.dtype, "load_s": round(load_s, 2),
        "questions": len(QUESTIONS), "repeat": args.repeat, "max_new_tokens": gen.max_new_tokens,
        **{f"median_{k}": round(statistics.median(v), 2) for k, v in rows.items()},
        "generative_over_extractive": round(statistics.median(rows["generate_ms"])
                                            / statistics.median(rows["extractive_ms"]), 1),
        "answerers": {a: answerers.count(a) for a in sorted(set(answerers))},
    }
    for k, v in figures.items():
        print(f"{k:28} {v}")
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
