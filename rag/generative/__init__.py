"""Generated answers (optional): a local model writes, `check` resolves every sentence to exact source spans."""
