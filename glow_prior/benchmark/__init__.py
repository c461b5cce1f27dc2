"""The benchmark (the `benchmark` binary): throughput and memory of the training step, the
training loop and scoring, against TFP's tfb.Glow and a matmul ceiling
(glow_prior.benchmark.measure; its settings are glow_prior.config.benchmark)."""
