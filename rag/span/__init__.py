"""The short answer: the words of a chosen sentence that answer the question, marked by a reader trained over
MiniLM (`rag.span.reader`) and given by `rag.span.model.short_answer`; the earlier span ranker over candidate
phrases (`rag.span.features`) stays for comparison."""
