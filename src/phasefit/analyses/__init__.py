"""One module per question (pure: no file I/O, no console): the per-curve analysis, the fit over
many curves, the population stage."""
