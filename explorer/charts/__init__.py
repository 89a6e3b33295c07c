"""Altair builders, one module per page plus the shared style: tidy DataFrames in, charts out."""
