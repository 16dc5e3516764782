"""Training study: PyTorch GRUs and LSTMs initialised across gatetheory's predicted regimes and
trained on long-memory tasks (run with ``python -m validation.training [--quick]``)."""
