"""Long-memory tasks generated in code: delayed recall and the sequential adding problem.

Every task draws a batch from a NumPy Generator and returns float32 arrays
``(inputs (B, T, d_in), targets, mask (T,))``: the loss is taken only at the time steps where
`mask` is true. In delayed recall the blank steps carry an all-zero input, so during the delay the
network runs on its own (autonomous) dynamics, the regime the theory describes; the adding problem
drives the network with a fresh value at every step.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DelayedRecall:
    """Show `length` symbols (one-hot of `symbols`), wait `delay` blank steps, then on a cue channel
    replay them in order; classification at the replay steps, chance accuracy 1 / symbols."""

    symbols: int = 4
    length: int = 3
    delay: int = 40
    kind: str = "classification"

    @property
    def name(self):
        return f"recall_d{self.delay}"

    @property
    def inputs(self):
        return self.symbols + 1

    @property
    def outputs(self):
        return self.symbols

    @property
    def steps(self):
        return 2 * self.length + self.delay

    @property
    def chance(self):
        return 1.0 / self.symbols

    def batch(self, rng, size):
        """Inputs (B, T, symbols + 1), integer targets (B, T) (-1 off the replay), mask (T,)."""
        seq = rng.integers(0, self.symbols, size=(size, self.length))
        x = np.zeros((size, self.steps, self.inputs), dtype=np.float32)
        rows = np.arange(size)[:, None]
        x[rows, np.arange(self.length)[None, :], seq] = 1.0
        replay = self.length + self.delay + np.arange(self.length)
        x[:, replay, self.symbols] = 1.0
        y = np.full((size, self.steps), -1, dtype=np.int64)
        y[:, replay] = seq
        mask = np.zeros(self.steps, dtype=bool)
        mask[replay] = True
        return x, y, mask


@dataclass(frozen=True)
class Adding:
    """Sequential adding (Hochreiter & Schmidhuber 1997): values U(0, 1) with two marked steps, one in
    the first `early` steps and one in the second half; regress their sum at the last step.
    Accuracy is the fraction within `tol` of the target (predicting the mean 1 scores about 2 tol)."""

    steps: int = 50
    early: int = 5
    tol: float = 0.05
    kind: str = "regression"

    @property
    def name(self):
        return f"adding_t{self.steps}"

    @property
    def inputs(self):
        return 2

    @property
    def outputs(self):
        return 1

    @property
    def chance(self):
        """Accuracy of always answering 1 (the sum of two U(0, 1) has a triangular law at 1)."""
        return 2 * self.tol - self.tol ** 2

    def batch(self, rng, size):
        """Inputs (B, T, 2) (value, marker), float targets (B, T, 1) (read at the last step), mask (T,)."""
        x = np.zeros((size, self.steps, 2), dtype=np.float32)
        x[:, :, 0] = rng.random((size, self.steps))
        first = rng.integers(0, self.early, size=size)
        second = rng.integers(self.steps // 2, self.steps, size=size)
        rows = np.arange(size)
        x[rows, first, 1] = 1.0
        x[rows, second, 1] = 1.0
        y = np.zeros((size, self.steps, 1), dtype=np.float32)
        y[:, -1, 0] = x[rows, first, 0] + x[rows, second, 0]
        mask = np.zeros(self.steps, dtype=bool)
        mask[-1] = True
        return x, y, mask
