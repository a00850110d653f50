"""What one big article file costs: reading, sentence splitting and chunking with the real tokenizer, and the
embedding time that would follow, each measured in a fresh process (peak memory is per process).

    python bench/big_file.py [--mib 50] [--accept-mib 8] [--repeat 3] [--out FILE]

Cases: a file of --mib MiB (refused by its size, before it is read), a file at the limit for text articles
(--accept-mib, read and chunked), and, for the record, the --mib file read and chunked as if there were no
limit. Embedding is not run in full (hours for 50 MB on a CPU): its time is extrapolated from the measured
rate on 512 of the file's sentences. Prints medians over --repeat runs.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def make_file(path: Path, mib: float) -> None:
    """Seed articles, varied, repeated up to `mib` MiB: realistic sentences, not one repeated string."""
    seed = next((ROOT / "seeds").glob("*.txt")).read_text(encoding="utf-8")
    target = int(mib * 2**20)
    with path.open("w", encoding="utf-8") as fh:
        written, i = 0, 0
        while written < target:
            chunk = seed.replace("Turkey", f"Turkey-{i}").replace("Syria", f"Syria-{i % 97}") + "\n\n"
            fh.write(chunk)
            written += len(chunk.encode())
            i += 1


def _case(conn: Any, path: str, limit: bool, embed_sample: bool) -> None:
    from rag.embed.model import SentenceTransformerEmbedder
    from rag.errors import IngestError
    from rag.ingest import corpus as ingest
    from rag.records import Document
    from rag.text.chunk import chunk_document
    from rag.text.sentences import split_sentences

    out: dict[str, Any] = {}
    emb = SentenceTransformerEmbedder()
    emb.count_tokens(["warm up"])
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    try:
        if limit:
            doc = ingest.read_file(Path(path), Path(path).name)
        else:  # as if there were no limit: the same decoding, without the size checks
            text = ingest.normalise_newlines(ingest.decode_text(Path(path).read_bytes(), "big"))
            doc = Document(id="big", title="big", text=text)
    except IngestError as exc:
        out["refused"] = str(exc)
        out["read_s"] = time.perf_counter() - t0
        out["peak_rss_mib_over_model"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
        conn.send(out)
        return
    out["read_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    spans = split_sentences(doc.text)
    out["split_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    passages = chunk_document(doc, count_tokens=emb.count_tokens, max_tokens=128)
    out["chunk_s"] = time.perf_counter() - t2
    out["sentences"], out["passages"] = len(spans), len(passages)
    out["peak_rss_mib_over_model"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    if embed_sample:
        sample = [doc.text[s:e] for s, e in spans[:512]]
        t3 = time.perf_counter()
        emb.embed(sample)
        rate = len(sample) / (time.perf_counter() - t3)
        out["embed_texts_per_s"] = rate
        out["embed_estimate_s"] = (len(spans) + len(passages)) / rate
    conn.send(out)


def run_case(path: Path, *, limit: bool, embed_sample: bool) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_case, args=(child, str(path), limit, embed_sample))
    proc.start()
    result = parent.recv()
    proc.join()
    return dict(result)


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = runs[0].keys()
    return {k: (round(statistics.median(r[k] for r in runs), 3) if isinstance(runs[0][k], float) else runs[0][k])
            for k in keys}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mib", type=float, default=50)
    p.add_argument("--accept-mib", type=float, default=8)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--skip-unlimited", action="store_true", help="skip the slow no-limit case")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    from rag.ingest import corpus as ingest

    tmp = Path(tempfile.mkdtemp(prefix="bench-big-"))
    big, edge = tmp / "big.txt", tmp / "edge.txt"
    make_file(big, args.mib)
    make_file(edge, min(args.accept_mib, ingest.MAX_TEXT_BYTES / 2**20) - 0.01)
    figures: dict[str, Any] = {"limit_mib": ingest.MAX_TEXT_BYTES / 2**20, "max_doc_chars": ingest.MAX_DOC_CHARS}
    cases = [("refused", big, True, False), ("at_limit", edge, True, True)]
    if not args.skip_unlimited:
        cases.append(("unlimited", big, False, True))
    for name, path, limit, embed_sample in cases:
        runs = [run_case(path, limit=limit, embed_sample=embed_sample)
                for _ in range(args.repeat if name != "unlimited" else 1)]
        figures[name] = {"file_mib": round(path.stat().st_size / 2**20, 1), **median_of(runs)}
        print(name, json.dumps(figures[name]), flush=True)
    for p_ in (big, edge):
        p_.unlink()
    tmp.rmdir()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
