"""Question answering over news articles that cites the exact character spans it relies on.

    >>> from rag import ask
    >>> answer = ask("When did Turkey and Syria sign the memorandum of understanding?")
    >>> answer.text, answer.citations[0].quote

A question flows one way: `rag.api` → `rag.engine` (`rag.question` checks it, `rag.followup` rewrites it,
`rag.embed` embeds it, `rag.retrieve` searches `rag.index`, `rag.extractive` picks sentences, `rag.cite` cites
them). Writes go through `rag.collection` (ingest → text → embed → index).
"""

from rag.api import ask, forget_engines, get_engine
from rag.collection import BuildResult, Collection, build_index
from rag.embed.model import DEFAULT_MODEL, Embedder, SentenceTransformerEmbedder
from rag.engine import Engine
from rag.errors import (
    CitationError,
    CorpusError,
    GeneratorError,
    IndexCorruptError,
    IndexLockedError,
    IndexMismatchError,
    IndexMissingError,
    IndexWriteError,
    IngestError,
    QuestionError,
    RagError,
)
from rag.index.index import ChunkSettings, Index, UpdateReport
from rag.index.vectors import FaissStore, VectorStore
from rag.ingest.corpus import load_corpus
from rag.records import Answer, Citation, Document, Passage, ScoredPassage

__all__ = [
    "DEFAULT_MODEL",
    "Answer",
    "BuildResult",
    "ChunkSettings",
    "Citation",
    "CitationError",
    "Collection",
    "CorpusError",
    "Document",
    "Embedder",
    "Engine",
    "FaissStore",
    "GeneratorError",
    "Index",
    "IndexCorruptError",
    "IndexLockedError",
    "IndexMismatchError",
    "IndexMissingError",
    "IndexWriteError",
    "IngestError",
    "Passage",
    "QuestionError",
    "RagError",
    "ScoredPassage",
    "SentenceTransformerEmbedder",
    "UpdateReport",
    "VectorStore",
    "ask",
    "build_index",
    "forget_engines",
    "get_engine",
    "load_corpus",
]
