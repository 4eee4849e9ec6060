"""Running analyses: the local loop with progress and checkpoints (a Dask runner comes later)."""
