"""Ingest: article files (txt, md, html, pdf, corpus.jsonl) to `Document`s with verbatim text."""

from rag.ingest.corpus import IngestResult, fingerprint, load_corpus, read_file, read_jsonl_corpus

__all__ = ["IngestResult", "fingerprint", "load_corpus", "read_file", "read_jsonl_corpus"]
