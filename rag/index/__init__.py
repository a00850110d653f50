"""Index: documents, passages, sentence vectors, a vector store and BM25 kept in step, saved as generations."""

from rag.index.index import ChunkSettings, Index, UpdateReport

__all__ = ["ChunkSettings", "Index", "UpdateReport"]
