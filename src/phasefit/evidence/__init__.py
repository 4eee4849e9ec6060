"""Evidence per curve: marginal likelihoods, PSIS-LOO and stacking, leave-future-out, BIG-bench
baselines, and the rules that turn evidence into a verdict."""
