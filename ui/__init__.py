"""The web chat (`rag chat`): a Gradio page over the engine; see ui.app.main."""
