"""Reading exported frames back with their schema. pandas loads on first use, not at import."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["read_csv", "read_parquet"]


def read_parquet(path: str | os.PathLike[str]) -> pd.DataFrame:
    """An `events`, `responses` or `items` frame from Parquet, dtypes and categories intact.

    Args:
        path: a file written by `DataFrame.to_parquet` (needs the `parquet` extra).

    Returns:
        The frame, with mediakit's declared dtypes restored where Parquet lost them; any other
        frame comes back as `pd.read_parquet` gives it.
    """
    from ._frames import read_parquet as read

    return read(path)


def read_csv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A frame from CSV with its schema restored: media ids stay exact strings.

    Args:
        path: a CSV written by `DataFrame.to_csv(index=False)`.

    Returns:
        The frame, typed as mediakit's schemas declare (timestamps, nullable integers,
        categories, media ids as exact strings); the user's columns in the dtype they read as.
    """
    from ._analysis import read_csv as read

    return read(path)
