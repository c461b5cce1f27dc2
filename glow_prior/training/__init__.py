"""Training: the loop shared by every model and what it is made of.

* loop: epochs of steps over a deterministic stream, signals, mid-epoch checkpoints
  (through a recorder: glow_prior.runs.train keeps the files);
* step: one optimizer step under a tf.distribute strategy, applied only when finite;
* batches: the deterministic stream of global batches (order, augmentation, noise);
* objectives: maximum likelihood (mixture-assigned) and negative training;
* optim: OpenAI's schedule, Adamax/Adam, the Polyak average;
* distribute: tf.distribute strategies by name;
* progress, signals: what a run shows while it runs, and SIGINT/SIGTERM.
"""
