"""LlamaIndex's standard RAG retrieval: SentenceSplitter with its defaults (1,024 tokens, 200 overlap), the
HuggingFaceEmbedding of the same MiniLM model, a FaissVectorStore over an exact IndexFlatL2, VectorStoreIndex
and its default retriever. Each node's `start_char_idx` places it in its document."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rag.records import Document

from ..metrics import Span
from .common import BuildStats, OffsetMapper


class LlamaIndexPeer:
    name = "llamaindex"

    def __init__(self, model_path: str) -> None:
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding

        self.embed_model = HuggingFaceEmbedding(model_name=model_path)
        self.dim = len(self.embed_model.get_text_embedding("warm up"))  # model load outside the build
        self.retrievers: dict[int, Any] = {}
        self.index: Any = None
        self.mapper: OffsetMapper | None = None

    def build(self, documents: Sequence[Document]) -> BuildStats:
        import faiss
        from llama_index.core import Document as LIDocument
        from llama_index.core import StorageContext, VectorStoreIndex
        from llama_index.core.node_parser import SentenceSplitter
        from llama_index.vector_stores.faiss import FaissVectorStore

        docs = [LIDocument(text=d.text, id_=d.id) for d in documents]
        nodes = SentenceSplitter().get_nodes_from_documents(docs)
        store = FaissVectorStore(faiss_index=faiss.IndexFlatL2(self.dim))
        self.index = VectorStoreIndex(nodes, storage_context=StorageContext.from_defaults(vector_store=store),
                                      embed_model=self.embed_model)
        self.mapper = OffsetMapper(documents)
        spans = [self.mapper.span(n.ref_doc_id or "", getattr(n, "start_char_idx", None), n.get_content())
                 for n in nodes]
        return self.mapper.stats(spans)

    def search(self, question: str, k: int) -> list[Span]:
        assert self.index is not None and self.mapper is not None, "build() first"
        if k not in self.retrievers:
            self.retrievers[k] = self.index.as_retriever(similarity_top_k=k)
        hits = self.retrievers[k].retrieve(question)
        return [self.mapper.span(h.node.ref_doc_id or "", h.node.start_char_idx, h.node.get_content(),
                                 count=False) for h in hits]
