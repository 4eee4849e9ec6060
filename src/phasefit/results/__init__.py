"""Results: the Analysis object, the posterior DataTree, the fit directory's files and checkpoints."""
