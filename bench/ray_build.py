"""A build embedded in this process against one embedded by Ray actors (`rag index --ray auto`), side by side in
one run: the first N articles of news-archive, real MiniLM, each build in a fresh process (what one `rag index`
pays: a model load, or a local cluster's start and its actors' model loads).

    python bench/ray_build.py [--articles 150] [--repeat 2] [--shapes single,ray-1x2,ray-2x1] [--out FILE]

Shapes: `single` (this process, torch's threads on every core), `ray-AxC` (A actors of C CPUs each on a local
cluster that `--ray auto` starts, of the machine's CPUs), `driver-only` (the build's own work without the model: the
real tokenizer chunks, the index is written, but each text's vector is a constant, made in no time; its passages/s
is what one driver can feed, so where adding Ray workers stops helping). Per shape, medians of `--repeat` builds:
wall seconds of the build (ingest to saved index; the cluster's start is shown apart), texts/s and passages/s over
the update (chunking, embedding, writing), the steady rate (texts/s from the first batch's vectors to the last's:
the actors' start left out), texts per CPU-second of embedding (process CPU time around each embed call: in
this process for `single`, in the actors for Ray; what a dedicated worker's cores turn into texts/s, whatever
else the machine runs), the driver's peak RSS, and for Ray the object-store traffic per passage: the Arrow
blocks of texts sent to the actors and of float32 vectors sent back (`RayEmbedder.traffic`). Ratios are against
`single`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: bench.measure and rag from this checkout
    sys.path.insert(0, str(ROOT))

from bench.measure import child_env, peak_rss_mib, ratio  # noqa: E402

CORPUS = ROOT.parent / "shared" / "benchmarks" / "news-archive" / "corpus.jsonl"
SHAPES = ("single", "ray-1x2", "ray-2x1")
COLUMNS = ("shape", "wall s", "ray start s", "texts/s", "passages/s", "steady texts/s", "texts/CPU-s", "peak MiB",
           "out B/passage", "back B/passage")


class NoModel:
    """`local` for the chunking (its tokenizer) with vectors that cost nothing: what a build does besides
    embedding, at full speed."""

    def __init__(self, local: Any) -> None:
        self.local = local
        self.name = local.name

    @property
    def dim(self) -> int:
        return int(self.local.dim)

    @property
    def max_tokens(self) -> int:
        return int(self.local.max_tokens)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return list(self.local.count_tokens(texts))

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> Any:
        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        out[:, 0] = 1.0
        return out


class Timed:
    """An embedder whose batches are timed as their vectors come back (through its own `embed_batches` where it
    has one, else batch by batch, as `rag.embed.batches` does)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.back: list[tuple[float, int]] = []  # (time, texts) of each batch as it came back
        self.cpu = 0.0  # CPU seconds of this process's embed calls

    @property
    def dim(self) -> int:
        return int(self.inner.dim)

    @property
    def max_tokens(self) -> int:
        return int(self.inner.max_tokens)

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> Any:
        return self.inner.embed(texts, progress=progress)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return list(self.inner.count_tokens(texts))

    def embed_batches(self, batches: Iterable[tuple[Any, Sequence[str]]]) -> Iterator[tuple[Any, Any]]:
        for tag, vectors in self._batches(batches):
            self.back.append((time.perf_counter(), len(vectors)))
            yield tag, vectors

    def _batches(self, batches: Iterable[tuple[Any, Sequence[str]]]) -> Iterator[tuple[Any, Any]]:
        if hasattr(self.inner, "embed_batches"):
            yield from self.inner.embed_batches(batches)
            return
        for tag, texts in batches:  # as rag.embed.batches does, with the embedding's CPU time counted
            c0 = time.process_time()
            vectors = self.inner.embed(texts)
            self.cpu += time.process_time() - c0
            yield tag, vectors

    def steady_rate(self) -> float | None:
        """Texts/s from the first batch's vectors to the last's (None with fewer than two batches)."""
        if len(self.back) < 2:
            return None
        return sum(n for _, n in self.back[1:]) / (self.back[-1][0] - self.back[0][0])


def _cpu_logging_actor(log: Path) -> type:
    """The embedding actor, appending the CPU seconds (all its threads) and texts of each batch to `log`."""
    from rag.embed.cluster_actors import EmbedActor

    class CpuLogging(EmbedActor):
        def __call__(self, table: Any) -> Any:
            c0 = time.process_time()
            out = super().__call__(table)
            texts = sum(len(t) for t in table.column("texts").to_pylist())
            with log.open("a", encoding="ascii") as fh:
                fh.write(f"{time.process_time() - c0} {texts}\n")
            return out

    return CpuLogging


def _child(shape: str, corpus: Path, index_dir: Path) -> dict[str, Any]:
    """One build of `corpus` into `index_dir` in this (fresh) process."""
    from rag.collection.build import build_index
    from rag.config import process_defaults
    from rag.embed.model import SentenceTransformerEmbedder

    process_defaults()
    local = SentenceTransformerEmbedder()
    inner: Any = local
    ray_start = None
    if shape == "driver-only":
        inner = NoModel(local)
    elif shape != "single":
        from rag.embed import cluster_actors
        from rag.embed.cluster import RayEmbedder

        cpu_log = index_dir.with_name(index_dir.name + ".cpu")
        setattr(cluster_actors, "EmbedActor", _cpu_logging_actor(cpu_log))  # noqa: B010 - read when a build starts
        actors, cpus = (int(x) for x in shape.removeprefix("ray-").split("x"))
        inner = RayEmbedder(local, address="auto", actors=actors, cpus_per_actor=cpus)
        t0 = time.perf_counter()
        inner.connect()
        ray_start = time.perf_counter() - t0
    timed = Timed(inner)
    t0 = time.perf_counter()
    report = build_index(index_dir, [corpus], embedder=timed).report
    wall = time.perf_counter() - t0
    texts = report.passages_embedded + report.sentences_embedded
    cpu = timed.cpu
    if shape.startswith("ray-"):
        cpu = sum(float(line.split()[0]) for line in cpu_log.read_text(encoding="ascii").splitlines())
    traffic = getattr(inner, "traffic", None)
    per_passage = (lambda b: b / report.passages_embedded) if report.passages_embedded else (lambda b: None)
    return {
        "shape": shape, "wall s": wall, "ray start s": ray_start, "texts": texts,
        "passages": report.passages_embedded, "texts/s": texts / report.seconds,
        "passages/s": report.passages_embedded / report.seconds, "steady texts/s": timed.steady_rate(),
        "texts/CPU-s": texts / cpu if cpu else None,
        "peak MiB": peak_rss_mib(), "batches": len(timed.back),
        "out B/passage": per_passage(traffic.bytes_out) if traffic else None,
        "back B/passage": per_passage(traffic.bytes_back) if traffic else None,
        "precision": local.precision if shape != "driver-only" else None,
    }


def _run_child(shape: str, corpus: Path, index_dir: Path) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", shape, str(corpus),
                           str(index_dir)], cwd=ROOT, env=child_env(), capture_output=True, text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{shape} build failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"
    return str(value)


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("--articles", type=int, default=150)
    args.add_argument("--repeat", type=int, default=2)
    args.add_argument("--shapes", default=",".join(SHAPES))
    args.add_argument("--out", type=Path, help="also write every run as JSON here")
    opts = args.parse_args(argv)
    shapes = opts.shapes.split(",")
    with tempfile.TemporaryDirectory(prefix="ray-build-") as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        with CORPUS.open(encoding="utf-8") as src:
            (corpus / "corpus.jsonl").write_text("".join(itertools.islice(src, opts.articles)), encoding="utf-8")
        runs: dict[str, list[dict[str, Any]]] = {s: [] for s in shapes}
        for i in range(opts.repeat):  # shapes interleaved: a busy spell of the machine falls on each alike
            for shape in shapes:
                run = _run_child(shape, corpus / "corpus.jsonl", Path(tmp) / f"{shape}-{i}")
                print(json.dumps(run), file=sys.stderr, flush=True)
                runs[shape].append(run)
    first = runs[shapes[0]][0]
    print(f"{opts.articles} articles: {first['passages']:,} passages, {first['texts']:,} texts (passages and "
          f"sentences), {first['batches']} batches, {first['precision']}; medians of {opts.repeat} builds")
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + " --- |" * len(COLUMNS))
    table = {s: {c: _median(runs[s], c) for c in COLUMNS[1:]} for s in shapes}
    for shape in shapes:
        print("| " + " | ".join([shape, *(_cell(table[shape][c]) for c in COLUMNS[1:])]) + " |")
    base = table.get("single")
    if base:
        for shape in shapes[1:]:
            print(f"{shape} / single: texts/s x{ratio(table[shape]['texts/s'], base['texts/s'])}, steady "
                  f"x{ratio(table[shape]['steady texts/s'], base['steady texts/s'])}, wall "
                  f"x{ratio(table[shape]['wall s'], base['wall s'])}, peak RSS "
                  f"x{ratio(table[shape]['peak MiB'], base['peak MiB'])}")
    if opts.out:
        opts.out.write_text(json.dumps(runs, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))))
        raise SystemExit(0)
    raise SystemExit(main())
