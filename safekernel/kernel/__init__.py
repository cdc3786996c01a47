"""The kernel side (trusted): the Jupyter kernel process. It speaks the Jupyter protocol, owns the
pool of sandboxed workers and the zygote that forks them, checks everything a worker sends, and
never runs a cell itself. Nothing here imports a runtime (import-linter holds it to that)."""
