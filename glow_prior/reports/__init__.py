"""Reports: results in, files out.

* plots: every figure (matplotlib);
* ood_report: an OOD evaluation's ood_report.json/.md, ood_scores.npz and figures;
* experiment: an experiment's report.json/.md and its seed study;
* visualize: Kirichenko et al.'s latent and coupling-layer figures of an image flow.
"""
