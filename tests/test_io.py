"""Reading and writing the artifacts (offerwise.io)."""

from __future__ import annotations

import polars as pl

from offerwise import io


def test_a_csv_column_empty_in_its_first_rows_is_still_read_as_numbers(tmp_path) -> None:
    """cross_response.csv fills combined_z on its last row only: with over 100 categories before it, the
    column must still come back as numbers."""
    frame = pl.DataFrame({"category": [f"c{i}" for i in range(150)] + ["cross-category"], "combined_z": [None] * 150 + [0.96]})
    io.write_csv(frame, tmp_path / "cross_response.csv")
    read = io.read_csv(tmp_path / "cross_response.csv", rerun="offerwise run")
    assert read.schema["combined_z"].is_numeric()
    assert read.get_column("combined_z").to_list()[-1] == 0.96
