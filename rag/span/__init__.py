"""The short answer: the phrase of a chosen sentence that answers the question, found by a trained ranker over
candidate phrases (`rag.span.model.short_answer`)."""
