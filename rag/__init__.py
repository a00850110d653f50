"""Question answering over news articles that cites the exact character spans it relies on.

    >>> from rag import ask
    >>> answer = ask("When did Turkey and Syria sign the memorandum of understanding?")
    >>> answer.text, answer.citations[0].quote
"""

from .embed import DEFAULT_MODEL, Embedder, SentenceTransformerEmbedder
from .engine import Engine, ask, build_index, get_engine
from .errors import (
    CitationError,
    CorpusError,
    IndexCorruptError,
    IndexLockedError,
    IndexMismatchError,
    IngestError,
    QuestionError,
    RagError,
)
from .index import ChunkSettings, Index, UpdateReport
from .ingest import load_corpus
from .records import Answer, Citation, Document, Passage, ScoredPassage
from .store import FaissStore, VectorStore

__all__ = [
    "DEFAULT_MODEL",
    "Answer",
    "ChunkSettings",
    "Citation",
    "CitationError",
    "CorpusError",
    "Document",
    "Embedder",
    "Engine",
    "FaissStore",
    "Index",
    "IndexCorruptError",
    "IndexLockedError",
    "IndexMismatchError",
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
    "get_engine",
    "load_corpus",
]
