"""The Gradio web chat (`rag chat`): streaming cited answers, a sources panel, and the documents tab."""
