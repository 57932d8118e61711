"""Statistics of large arrays in bounded memory.

numpy's ``std`` makes a float64 copy of the whole array (8 bytes a value, twice
the float32 values themselves); these work through the array a piece at a
time, so the extra memory is one float64 piece.
"""

from __future__ import annotations

import numpy as np

#: Values per piece: 8 MiB of float64 temporaries.
PIECE_VALUES = 1 << 20


def mean_std(values: np.ndarray, piece: int = PIECE_VALUES) -> tuple[float, float]:
    """The mean and the (population) standard deviation of ``values``, accumulated in
    float64 piece by piece; (0, 0) for no values, NaN or inf as the values give."""
    flat = values.reshape(-1)
    if not flat.size:
        return 0.0, 0.0
    with np.errstate(all="ignore"):  # inf or NaN values (a constant inf, say)
        total = 0.0
        for start in range(0, flat.size, piece):
            total += float(flat[start:start + piece].sum(dtype=np.float64))
        mean = total / flat.size
        squares = 0.0
        for start in range(0, flat.size, piece):
            delta = flat[start:start + piece].astype(np.float64)
            delta -= mean
            delta *= delta
            squares += float(delta.sum())
        return mean, float(np.sqrt(squares / flat.size))
