"""Our index build beside LangChain's and LlamaIndex's quickstart pipelines, on the same news articles (#12).

    python -m bench.peer_builds [--articles 1000] [--rounds 2] [--questions 50] [--out FILE]
                                [--systems ours,ours-qdrant,langchain,llamaindex]

The sample is the first `--articles` rows of news-archive's corpus.jsonl. Each system builds it in a fresh
process (its peak RSS is its own: VmHWM from /proc/self/status, not getrusage, which Linux carries over from
a forked parent), then its saved index is loaded in another fresh process and asked warm questions:

- ours: `build_index` with `SentenceTransformerEmbedder()` (passages and their sentences embedded), FAISS +
  bm25s; ours-qdrant: the same into Qdrant's local mode. Queries: the engine's warm `ask()`, default answerer,
  no date filter (the peers have none).
- langchain: `RecursiveCharacterTextSplitter()` defaults, `HuggingFaceEmbeddings`, `FAISS.from_documents`,
  `save_local`; queries: `similarity_search(q, k=5)`.
- llamaindex: `SentenceSplitter()` defaults, `HuggingFaceEmbedding`, `VectorStoreIndex` over a
  `FaissVectorStore`, `persist`; queries: `as_retriever(similarity_top_k=5).retrieve(q)`.

All on the same local all-MiniLM-L6-v2 (eval/baselines builds the peers). Build time excludes loading the
model (timed apart) and includes reading the corpus and saving the index. Questions: a seeded sample of the
answerable gold questions with an evidence article in the sample. Systems are interleaved (their order rotates
every round); the table gives medians over rounds and ours / each peer for every figure.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .measure import PYTHON, ROOT, SHARED, child_env

ARCHIVE = SHARED / "benchmarks" / "news-archive"
SYSTEMS = ("ours", "ours-qdrant", "langchain", "llamaindex")
PEERS = ("langchain", "llamaindex")


@dataclass(frozen=True, slots=True)
class Build:
    model_s: float  # loading (and warming) the model, not part of build_s
    model_mib: float  # resident once the model is loaded
    build_s: float  # reading the corpus, chunking, embedding, saving
    passages: int  # passages (ours) or chunks/nodes (peers)
    texts: int  # texts embedded: ours also embeds each passage's sentences
    chars: int  # characters of the sample's documents
    peak_mib: float  # the build process's peak RSS, model included


@dataclass(frozen=True, slots=True)
class Load:
    model_s: float
    load_s: float  # the saved index only, the model already loaded
    load_mib: float  # resident memory the load added
    query_p50_ms: float
    query_p95_ms: float
    queries: int
    peak_mib: float


@dataclass(frozen=True, slots=True)
class Row:
    system: str
    round: int
    build: Build
    load: Load
    disk_mib: float
    loadavg: float  # the machine's 1-minute load average when the row was done (2 cores, shared)


def _status_mib(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(f"{field}:")) / 1024


def _model(system: str) -> Any:
    """The system's embedder (ours) or eval/baselines peer, its model loaded and warm."""
    if system.startswith("ours"):
        from rag.embed.model import SentenceTransformerEmbedder

        emb = SentenceTransformerEmbedder()
        emb.embed([f"warm up {i} " * 40 for i in range(4)])
        return emb
    from eval.baselines import make_peer

    return make_peer(system, None)  # loads and warms the model


def _store(system: str, folder: Path) -> Any:
    from rag.config import StoreSpec

    return StoreSpec.parse(f"qdrant:{folder / 'qdrant'}" if system == "ours-qdrant" else "faiss")


def _build(system: str, model: Any, corpus: Path, folder: Path) -> tuple[int, int, int]:
    """Build and save; (passages, texts embedded, characters)."""
    from rag.ingest.corpus import load_corpus

    if system.startswith("ours"):
        from rag.collection import build_index

        result = build_index(folder / "index", [corpus], embedder=model, rebuild=True, store=_store(system, folder))
        r, docs = result.report, result.ingest.documents
        return r.passages_embedded, r.passages_embedded + r.sentences_embedded, sum(len(d.text) for d in docs)
    docs = load_corpus([corpus]).documents
    stats = model.build(docs)
    if system == "langchain":
        model.store.save_local(str(folder / "index"))
    else:
        model.index.storage_context.persist(persist_dir=str(folder / "index"))
    return stats.passages, stats.passages, sum(len(d.text) for d in docs)


def child_build(a: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    model = _model(a["system"])
    model_s, model_mib = time.perf_counter() - t0, _status_mib("VmRSS")
    t1 = time.perf_counter()
    passages, texts, chars = _build(a["system"], model, Path(a["corpus"]), Path(a["folder"]))
    build_s = time.perf_counter() - t1
    return asdict(Build(round(model_s, 2), round(model_mib, 1), round(build_s, 2), passages, texts, chars,
                        round(_status_mib("VmHWM"), 1)))


def _open(system: str, model: Any, folder: Path) -> Any:
    """The saved index loaded; returns a function of one question that queries it."""
    if system.startswith("ours"):
        from rag.engine import Engine
        from rag.index.index import Index

        engine = Engine(Index.load(folder / "index"), model)
        return engine.ask
    if system == "langchain":
        from langchain_community.vectorstores import FAISS

        store = FAISS.load_local(str(folder / "index"), model.embeddings, allow_dangerous_deserialization=True)
        return lambda q: store.similarity_search(q, k=5)
    from llama_index.core import StorageContext, load_index_from_storage
    from llama_index.vector_stores.faiss import FaissVectorStore

    persist = str(folder / "index")
    context = StorageContext.from_defaults(vector_store=FaissVectorStore.from_persist_dir(persist),
                                           persist_dir=persist)
    retriever = load_index_from_storage(context, embed_model=model.embed_model).as_retriever(similarity_top_k=5)
    return retriever.retrieve


def child_load(a: dict[str, Any]) -> dict[str, Any]:
    from eval.stats import percentile

    t0 = time.perf_counter()
    model = _model(a["system"])
    model_s, before = time.perf_counter() - t0, _status_mib("VmRSS")
    t1 = time.perf_counter()
    query = _open(a["system"], model, Path(a["folder"]))
    load_s, load_mib = time.perf_counter() - t1, _status_mib("VmRSS") - before
    questions: list[str] = a["questions"]
    for q in questions[:3]:  # warm-up
        query(q)
    ms = []
    for q in questions:
        t2 = time.perf_counter()
        query(q)
        ms.append((time.perf_counter() - t2) * 1000)
    return asdict(Load(round(model_s, 2), round(load_s, 3), round(load_mib, 1), round(percentile(ms, 50) or 0, 2),
                       round(percentile(ms, 95) or 0, 2), len(ms), round(_status_mib("VmHWM"), 1)))


def _child(task: str, args: dict[str, Any]) -> dict[str, Any]:
    env = child_env(OMP_WAIT_POLICY="PASSIVE")  # what our CLI sets (rag.config.process_defaults), for all
    proc = subprocess.run([PYTHON, "-m", "bench.peer_builds", "--child", task, json.dumps(args)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=4 * 3600, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        raise RuntimeError(f"{task} {args.get('system')} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def sample(folder: Path, articles: int, n_questions: int, seed: int) -> tuple[Path, list[str]]:
    """The first `articles` rows as a corpus.jsonl of their own; a seeded sample of the answerable gold
    questions with at least one evidence article among them."""
    corpus = folder / "corpus.jsonl"
    with (ARCHIVE / "corpus.jsonl").open(encoding="utf-8") as src:
        lines = list(itertools.islice(src, articles))
    corpus.write_text("".join(lines), encoding="utf-8")
    ids = {json.loads(line)["_id"] for line in lines}
    with (ARCHIVE / "gold.jsonl").open(encoding="utf-8") as fh:
        gold = [json.loads(line) for line in fh if line.strip()]
    fits = [g["question"] for g in gold if g.get("answers")
            and any(isinstance(e, dict) and e.get("doc") in ids for e in g.get("evidence", []))]
    return corpus, random.Random(seed).sample(fits, min(n_questions, len(fits)))


def _disk_mib(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20, 1)


def run(systems: Sequence[str], rounds: int, corpus: Path, questions: list[str], tmp: Path,
        save: Callable[[list[Row]], None]) -> list[Row]:
    rows: list[Row] = []
    for r in range(rounds):
        order = list(systems[r % len(systems):]) + list(systems[: r % len(systems)])  # rotate every round
        for system in order:
            folder = tmp / f"{system}-r{r}"
            folder.mkdir()
            build = Build(**_child("build", {"system": system, "corpus": str(corpus), "folder": str(folder)}))
            load = Load(**_child("load", {"system": system, "folder": str(folder), "questions": questions}))
            rows.append(Row(system, r, build, load, _disk_mib(folder), round(os.getloadavg()[0], 2)))
            shutil.rmtree(folder)  # a 1,000-article index of ours is ~110 MiB: keep at most one at a time
            print(f"  round {r} {system}: {figures([rows[-1]])}", flush=True)
            save(rows)  # after every row: a run cut short keeps what it measured
    return rows


def figures(rows: Sequence[Row]) -> dict[str, float]:
    """Medians over rounds of every figure of one system's rows."""
    def med(values: Sequence[float]) -> float:
        return round(statistics.median(values), 3)

    b, ld = [r.build for r in rows], [r.load for r in rows]
    return {
        "model load s": med([x.model_s for x in b]), "RSS after model MiB": med([x.model_mib for x in b]),
        "build s": med([x.build_s for x in b]), "passages/chunks": med([x.passages for x in b]),
        "texts embedded": med([x.texts for x in b]), "passages/s": med([x.passages / x.build_s for x in b]),
        "texts/s": med([x.texts / x.build_s for x in b]), "chars/s": med([x.chars / x.build_s for x in b]),
        "peak RSS MiB": med([x.peak_mib for x in b]), "index on disk MiB": med([r.disk_mib for r in rows]),
        "load s": med([x.load_s for x in ld]), "load adds MiB": med([x.load_mib for x in ld]),
        "query p50 ms": med([x.query_p50_ms for x in ld]), "query p95 ms": med([x.query_p95_ms for x in ld]),
    }


def table(rows: Sequence[Row]) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Medians per system, and the printed table with ours / each peer (and ours-qdrant / each peer)."""
    systems = list(dict.fromkeys(r.system for r in rows))
    med = {s: figures([r for r in rows if r.system == s]) for s in systems}
    pairs = [(o, p) for o in ("ours", "ours-qdrant") for p in PEERS if o in med and p in med]
    labels = [f"{o}/{p[:5]}" for o, p in pairs]
    lines = ["  ".join([f"{'figure':<20}"] + [f"{s:>11}" for s in systems] + [f"{x:>17}" for x in labels])]
    for key in med[systems[0]]:
        cells = [f"{key:<20}"] + [f"{med[s][key]:>11,.2f}" for s in systems]
        cells += [f"{med[o][key] / med[p][key]:>17.2f}" if med[p][key] else f"{'-':>17}" for o, p in pairs]
        lines.append("  ".join(cells))
    return med, lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--articles", type=int, default=1000, help="the first N articles of news-archive")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--questions", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0, help="seed of the question sample")
    ap.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated, of {', '.join(SYSTEMS)}")
    ap.add_argument("--out", type=Path, help="write the rows and medians as JSON here")
    ap.add_argument("--child", nargs=2, metavar=("TASK", "ARGS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        task, child_args = args.child
        print(json.dumps({"build": child_build, "load": child_load}[task](json.loads(child_args))), flush=True)
        return 0
    systems = [s for s in args.systems.split(",") if s]
    if unknown := set(systems) - set(SYSTEMS):
        ap.error(f"unknown systems: {', '.join(sorted(unknown))}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: the temporary folder is still removed
    with tempfile.TemporaryDirectory(prefix="peer-builds-") as name:
        tmp = Path(name)
        corpus, questions = sample(tmp, args.articles, args.questions, args.seed)
        print(f"{args.articles} articles, {len(questions)} questions, {args.rounds} rounds: {', '.join(systems)}")
        rows = run(systems, args.rounds, corpus, questions, tmp, lambda rs: _save(args.out, args, questions, rs))
    print("\n".join(table(rows)[1]))
    return 0


def _save(out: Path | None, args: argparse.Namespace, questions: list[str], rows: list[Row]) -> None:
    if out is None:
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"articles": args.articles, "rounds": args.rounds, "questions": questions,
           "rows": [asdict(r) for r in rows], "medians": table(rows)[0]}
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out)

if __name__ == "__main__":
    sys.exit(main())
