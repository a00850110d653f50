"""LangChain's standard RAG retrieval: RecursiveCharacterTextSplitter with its defaults (4,000 characters,
200 overlap; `add_start_index=True` records each chunk's offset), HuggingFaceEmbeddings on the same MiniLM
model, and LangChain's FAISS vector store (`FAISS.from_documents`, an exact IndexFlatL2)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rag.records import Document

from ..metrics import Span
from .common import BuildStats, OffsetMapper


class LangChainPeer:
    name = "langchain"

    def __init__(self, model_path: str) -> None:
        from langchain_huggingface import HuggingFaceEmbeddings

        self.embeddings = HuggingFaceEmbeddings(model_name=model_path)
        self.embeddings.embed_query("warm up")  # the model load is not part of the index build
        self.store: Any = None
        self.mapper: OffsetMapper | None = None

    def build(self, documents: Sequence[Document]) -> BuildStats:
        from langchain_community.vectorstores import FAISS
        from langchain_core.documents import Document as LCDocument
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        splitter = RecursiveCharacterTextSplitter(add_start_index=True)
        chunks = splitter.split_documents([LCDocument(page_content=d.text, metadata={"doc_id": d.id})
                                           for d in documents])
        self.store = FAISS.from_documents(chunks, self.embeddings)
        self.mapper = OffsetMapper(documents)
        spans = [self.mapper.span(c.metadata["doc_id"], c.metadata.get("start_index"), c.page_content)
                 for c in chunks]
        return self.mapper.stats(spans)

    def search(self, question: str, k: int) -> list[Span]:
        assert self.store is not None and self.mapper is not None, "build() first"
        found = self.store.similarity_search(question, k=k)
        return [self.mapper.span(d.metadata["doc_id"], d.metadata.get("start_index"), d.page_content,
                                 count=False) for d in found]
