"""Embed: the `Embedder` protocol, sentence-transformers behind it, and a numpy forward pass for questions."""

from rag.embed.model import DEFAULT_MODEL, Embedder, SentenceTransformerEmbedder

__all__ = ["DEFAULT_MODEL", "Embedder", "SentenceTransformerEmbedder"]
