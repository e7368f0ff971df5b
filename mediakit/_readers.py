"""Reading exported frames back with their schema. pandas loads on first use, not at import."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["read_csv", "read_parquet"]


def read_parquet(path: str | os.PathLike[str]) -> pd.DataFrame:
    """An `events`, `responses` or `items` frame from Parquet, dtypes and categories intact."""
    from ._frames import read_parquet as read

    return read(path)


def read_csv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A frame from CSV with its schema restored: media ids stay exact strings."""
    from ._analysis import read_csv as read

    return read(path)
