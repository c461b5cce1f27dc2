"""Run directories: one experiment each, and what is done with them.

* rundir: the directory, its record (hparams.json), lock, checkpoint pointer and logs;
* checkpoints: what a training process saves and restores;
* train: training a model into a run directory (glow_prior.train and the train_*
  binaries); load: a trained run's model (glow_prior.load);
* summaries: TensorBoard summaries and the training curve;
* evaluate: a run's OOD evaluation and report (evaluate_ood);
* detectors: detectors saved with their run, bound to the weights they were fitted on;
* export: SavedModels; openai_import: openai/glow checkpoints as run directories.
"""
