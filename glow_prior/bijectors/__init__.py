"""TFP bijectors of the flows, each computing (output, log|det J|) in one pass on any batch
shape (glow_prior.bijectors.base): actnorm, 1x1 convolutions and channel permutations,
couplings and their conditioner networks, RealNVP masks, squeeze, the logit preprocessing,
multi-scale levels with split priors, and backprop by inversion."""
