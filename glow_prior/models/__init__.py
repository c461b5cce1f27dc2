"""Models: Glow, RealNVP, VAE and tabular flows built from hyperparameters."""
