"""The tools people use today, on the same gold files: LangChain's and LlamaIndex's standard RAG retrieval
(default splitters, FAISS stores) with our embedding model. Installed only for this:
`pip install 'rag-news[baselines]'` (see eval/baselines/README.md for the exact working set)."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Sequence
from typing import Any

from rag.embed.model import resolve_model
from rag.errors import require
from rag.records import Document

from ..records import QuestionRun
from .common import Peer, PeerRun, ours
from .langchain_peer import LangChainPeer
from .llamaindex_peer import LlamaIndexPeer

MODULES = {  # top-level packages only: finding a submodule would import its package
    "langchain": ("langchain_text_splitters", "langchain_community", "langchain_huggingface", "langchain_core"),
    "llamaindex": ("llama_index.core", "llama_index.embeddings.huggingface", "llama_index.vector_stores.faiss"),
}


def check_installed(names: Sequence[str]) -> None:
    """Raise MissingDependencyError naming what to install when a peer's packages are missing. The packages are
    found, not imported: importing them would load their models' libraries into the process before our own
    figures (peak memory) are taken."""
    for name in names:
        for module in MODULES[name]:
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                require(module, extra="baselines")  # raises, saying what to install


def make_peer(name: str, model: str | None) -> Peer:
    source = resolve_model(model)[1]  # the same local MiniLM folder our engine loads
    return LangChainPeer(source) if name == "langchain" else LlamaIndexPeer(source)


def start_peers(
    names: Sequence[str],
    documents: Sequence[Document],
    *,
    k: int,
    model: str | None = None,
    clock: Callable[[], float] = time.perf_counter,
    echo: Callable[[str], None] = print,
) -> list[PeerRun]:
    """Each named peer with its index built (timed), ready to be asked alongside our engine."""
    check_installed(names)
    runs = []
    for name in names:
        echo(f"Baseline {name}: indexing {len(documents)} documents ...")
        runs.append(PeerRun(make_peer(name, model), documents, k=k, clock=clock))
    return runs


def side_by_side(
    peers: Sequence[PeerRun],
    runs: Sequence[QuestionRun],
    *,
    k: int,
    build_s: float,
    passages: Sequence[tuple[int, int]],
) -> dict[str, Any]:
    """report.json's "baselines": our retrieval row (from the harness run) and one row per peer.
    `passages` are our index's passage (start, end) offsets, for the passage count and size."""
    sizes = [e - s for s, e in passages]
    out = {"ours": ours(runs, k=k, build_s=build_s, passages=len(sizes),
                        mean_chars=sum(sizes) / len(sizes) if sizes else 0.0)}
    out.update({p.peer.name: p.figures() for p in peers})
    return out
