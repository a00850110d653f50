"""Speed and scale figures for the engine: `rag bench` (bench/run.py). Outputs go to bench/out/ (not committed)."""
