"""Model specs (TOML), the hypothesis plug-ins and their registry, priors, likelihoods, simulation."""
