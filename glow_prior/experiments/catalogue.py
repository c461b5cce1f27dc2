"""The papers' experiments: each a list of runs, a training binary with a flagfile from
configs/<cpu|paper>/<experiment>/<run>.cfg followed by evaluate_ood, with the paper's
numbers shown beside ours."""
import dataclasses


@dataclasses.dataclass(frozen=True)
class Run:
    """A training run and its evaluation.

    reuse: (experiment, run) whose run directory is used instead of training anew when it
    exists (same flagfile content, so training there resumes instantly); evaluate: False for
    runs that only serve another's evaluation (background models, ensemble members);
    background / ensemble: names of runs whose models evaluate_ood gets as
    --background_logdir / --ensemble_logdirs; eval_flags: extra evaluate_ood flags."""

    name: str
    binary: str
    ood: tuple
    reuse: tuple = None
    evaluate: bool = True
    background: str = None
    ensemble: tuple = ()
    eval_flags: tuple = ()


@dataclasses.dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    runs: tuple
    # Reference numbers from the paper, shown beside ours.
    paper: dict = dataclasses.field(default_factory=dict)
    # Runs of a sweep: run name -> (series label, x value) for a line plot.
    sweep: dict = dataclasses.field(default_factory=dict)
    sweep_axis: str = ""
    # The report tabulates every OOD score of every run (not only the log-likelihood).
    score_table: bool = False

    @property
    def evaluated(self):
        """The runs that get an OOD evaluation."""
        return tuple(run for run in self.runs if run.evaluate)


def _glow(name, ood="mnist"):
    return Run(name, "train_glow", (ood,))


def _vae(name, ood="mnist"):
    return Run(name, "train_vae", (ood,))


def _realnvp(name, ood="mnist"):
    return Run(name, "train_realnvp", (ood,) if isinstance(ood, str) else tuple(ood))


def _kirichenko_pair(name):
    return Run(name, "train_realnvp" if name.startswith("realnvp") else "train_glow",
               ("mnist",) if name.endswith("fmnist") else ("fashion_mnist",))


def _synthetic(name):
    return Experiment(
        name, "Flows of 4 affine couplings on Kamoi et al.'s two-mode mixture with a standard "
              "vs a bimodal Gaussian mixture prior; OOD: N(0, 0.01 I) (their Section 3.1, "
              "Figures 2 and 10).",
        (Run("uni", "train_tabular", ("synthetic_ood",)),
         Run("multi", "train_tabular", ("synthetic_ood",))),
        paper={"uni": {"in_mean_log_likelihood": -3.25, "ood_mean_log_likelihood": -4.87},
               "multi": {"ood_mean_log_likelihood": -40.11}} if name == "synthetic_2d" else {})


DISTANCES = (10, 25, 50, 100)
OOD_SCORE_SETS = ("mnist", "constant", "noise", "other_labels")


def _ood_scores():
    """Every OOD score on the main experiment's models (Glow, standard and bimodal prior, on
    Fashion-MNIST labels 1, 7) and the VAE pair, reusing their runs when they exist."""
    glow = dict(binary="train_glow", ood=OOD_SCORE_SETS)
    vae = dict(binary="train_vae", ood=OOD_SCORE_SETS,
               # Likelihood regret re-optimises an encoder per image: ~1 s per image for 50
               # steps on one core, so the CPU config scores 100 images per set.
               eval_flags=("--n_eval=100", "--regret_steps=50"))
    return Experiment(
        "ood_scores",
        "Every likelihood-based OOD score of glow_prior on one evaluation: Glow with a "
        "standard and with a bimodal mixture prior on Fashion-MNIST labels 1, 7 (the main "
        "experiment's models), their likelihood-ratio background models (perturbation rate "
        "0.2, L2 1e-4), a 3-member ensemble of the standard-prior Glow (WAIC), and the VAE "
        "pair, and a multi-scale Glow for the per-level scores; OOD: MNIST, constant and "
        "noise images, Fashion-MNIST's other labels.",
        (Run("glow_uni", reuse=("fmnist17_mnist", "uni"), background="glow_uni_background",
             ensemble=("glow_uni", "glow_uni_seed1", "glow_uni_seed2"), **glow),
         Run("glow_multi", reuse=("fmnist17_mnist", "multi"),
             background="glow_multi_background", **glow),
         Run("glow_uni_background", evaluate=False, **glow),
         Run("glow_multi_background", evaluate=False, **glow),
         Run("glow_uni_seed1", evaluate=False, **glow),
         Run("glow_uni_seed2", evaluate=False, **glow),
         Run("glow_uni_multiscale", **glow),
         Run("vae_uni", reuse=("fmnist17_mnist_vae", "uni"), **vae),
         Run("vae_multi", reuse=("fmnist17_mnist_vae", "multi"), **vae)),
        paper={"vae_uni": {"mnist": "ELBO 0.87, likelihood regret 0.99, DoSE 1.00 "
                                    "(Fashion-MNIST -> MNIST, as tabulated in later papers)"}},
        score_table=True)

EXPERIMENTS = {
    "synthetic_2d": _synthetic("synthetic_2d"),
    "synthetic_10d": _synthetic("synthetic_10d"),
    "fmnist17_mnist": Experiment(
        "fmnist17_mnist",
        "Glow on Fashion-MNIST labels 1 and 7 with a standard vs a bimodal Gaussian mixture "
        "prior (means [+-50, 0, ...]), and standard-prior Glows on label 1 only and label 7 "
        "only; OOD: MNIST (Kamoi et al. Section 5.3, Figure 4, Table 1).",
        (_glow("uni"), _glow("multi"), _glow("uni_label1"), _glow("uni_label7")),
        paper={"uni": {"ood_mean_nll": 1372.18}, "multi": {"ood_mean_nll": 2679.89},
               "uni_label1": {"ood_mean_nll": 1791.96},
               "uni_label7": {"ood_mean_nll": 1595.10}}),
    "fmnist17_mnist_vae": Experiment(
        "fmnist17_mnist_vae",
        "The VAE of Kamoi et al. (Table 2) on Fashion-MNIST labels 1 and 7 with a standard vs "
        "a bimodal Gaussian mixture prior (means [+-75, 0, ...]), and standard-prior VAEs on "
        "label 1 only and label 7 only; OOD: MNIST; importance-sampled log-likelihoods "
        "(Section 5.3, Figures 4a and 7, Table 1).",
        (_vae("uni"), _vae("multi"), _vae("uni_label1"), _vae("uni_label7")),
        paper={"uni": {"ood_mean_nll": 1647.76}, "multi": {"ood_mean_nll": 2821.97},
               "uni_label1": {"ood_mean_nll": 1976.73},
               "uni_label7": {"ood_mean_nll": 1578.43}}),
    "fmnist0178_mnist_vae": Experiment(
        "fmnist0178_mnist_vae",
        "The VAE on Fashion-MNIST labels 0, 1, 7, 8 with a standard vs a four-component "
        "Gaussian mixture prior (means 150 e_k); OOD: MNIST (Section 5.4, Figure 8a).",
        (_vae("uni"), _vae("multi"))),
    "cifar04_svhn_vae": Experiment(
        "cifar04_svhn_vae",
        "The VAE of Kamoi et al. (Table 3) on one k-means++ cluster of each of CIFAR-10 "
        "labels 0 and 4 with a standard vs a bimodal Gaussian mixture prior (means "
        "[+-100, 0, ...]); OOD: SVHN (Section 5.4, Figure 9a).",
        (_vae("uni", "svhn_cropped"), _vae("multi", "svhn_cropped"))),
    "distance_sweep": Experiment(
        "distance_sweep",
        "MNIST mean log-likelihood against the distance d between the two components "
        "([+-d/2, 0, ...]) of a Gaussian vs a generalized Gaussian (beta = 4) mixture prior, "
        "Glow on Fashion-MNIST labels 1 and 7 (Kamoi et al. Figure 6).",
        tuple(_glow(f"{kind}_d{d}") for kind in ("gaussian", "generalized") for d in DISTANCES),
        sweep={f"{kind}_d{d}": (kind, d) for kind in ("gaussian", "generalized")
               for d in DISTANCES},
        sweep_axis="distance between components"),
    "fmnist0178_mnist": Experiment(
        "fmnist0178_mnist",
        "Glow on Fashion-MNIST labels 0, 1, 7, 8 with a standard vs a four-component "
        "Gaussian mixture prior (means [200 k, 0, ...]); OOD: MNIST (Kamoi et al. Figure 8).",
        (_glow("uni"), _glow("multi"))),
    "converged": Experiment(
        "converged",
        "Kamoi et al.'s claim that a mixture prior lowers OOD likelihood while the "
        "in-distribution likelihood stays about the same, tested at convergence: the "
        "fmnist0178 Glow and VAE (standard vs four-component prior) and the fmnist17 Glow "
        "with generalized-Gaussian mixtures at d = 50 and 100 against its standard prior, "
        "trained until the in-distribution likelihood plateaus; OOD: MNIST.",
        (_glow("glow17_uni"), _glow("glow17_generalized_d50"), _glow("glow17_generalized_d100"),
         _glow("glow0178_uni"), _glow("glow0178_multi"),
         Run("vae0178_uni", "train_vae", ("mnist",), eval_flags=("--n_eval=300",)),
         Run("vae0178_multi", "train_vae", ("mnist",), eval_flags=("--n_eval=300",)))),
    "baseline_auroc": Experiment(
        "baseline_auroc",
        "RealNVP and Glow trained on Fashion-MNIST (OOD: MNIST) and on MNIST (OOD: "
        "Fashion-MNIST): flows fail to detect OOD data (Kirichenko et al. App. D, Table 1).",
        tuple(_kirichenko_pair(name) for name in ("realnvp_fmnist", "realnvp_mnist",
                                                  "glow_fmnist", "glow_mnist")),
        paper={"realnvp_fmnist": {"auroc": 0.108}, "realnvp_mnist": {"auroc": 0.9999},
               "glow_fmnist": {"auroc": 0.133}, "glow_mnist": {"auroc": 0.9996}}),
    "masks": Experiment(
        "masks",
        "Single-scale RealNVPs with checkerboard, horizontal and cycle masks on Fashion-MNIST; "
        "OOD: MNIST (Kirichenko et al. App. I.1, Figure 15).",
        tuple(_realnvp(mask) for mask in ("checkerboard", "horizontal", "cycle"))),
    "bottleneck": Experiment(
        "bottleneck",
        "RealNVP on Fashion-MNIST with st-network bottlenecks l = 10, 50, 100 against the "
        "baseline; OOD: MNIST (Kirichenko et al. App. I.2, Figure 16).",
        tuple(_realnvp(name) for name in ("baseline", "l10", "l50", "l100")),
        sweep={"l10": ("bottleneck", 10), "l50": ("bottleneck", 50),
               "l100": ("bottleneck", 100)},
        sweep_axis="bottleneck dimension l"),
    "negative_training": Experiment(
        "negative_training",
        "RealNVP trained to maximise the likelihood of one dataset and minimise that of "
        "another above c = -30000 nats (eq. 7), evaluated on both and on held-out OOD sets "
        "(Kirichenko et al. App. B, Figure 7e/f).",
        (_realnvp("fmnist_up_mnist_down", ("mnist", "constant", "noise")),
         _realnvp("mnist_up_fmnist_down", ("fashion_mnist", "constant", "noise")))),
    "tabular": Experiment(
        "tabular",
        "Tabular RealNVP (8 couplings, MLP st-networks, AdamW) on scikit-learn's "
        "breast-cancer data: trained on one class, the other class is OOD (the offline "
        "counterpart of Kirichenko et al. App. K.3).",
        (Run("class0", "train_tabular", ("class_1",)),
         Run("class1", "train_tabular", ("class_0",)))),
    "tabular_uci": Experiment(
        "tabular_uci",
        "Tabular RealNVP on HEPMASS and MINIBOONE (UCI files under data/uci/, see the "
        "flagfiles): trained on one class, the other is OOD (Kirichenko et al. Table 2b).",
        tuple(Run(f"{name}_{cls}", "train_tabular", (f"class_{1 - index}",))
              for name in ("hepmass", "miniboone")
              for index, cls in enumerate(("background", "signal"))),
        paper={"hepmass_background": {"auroc": 0.8378}, "hepmass_signal": {"auroc": 0.7073},
               "miniboone_background": {"auroc": 0.7271},
               "miniboone_signal": {"auroc": 0.8756}}),
    "ood_scores": _ood_scores(),
    "cifar04_svhn": Experiment(
        "cifar04_svhn",
        "Glow on one k-means++ cluster (of 4) of each of CIFAR-10 labels 0 and 4 with a "
        "standard vs a bimodal Gaussian mixture prior (means [+-100, 0, ...]); OOD: SVHN "
        "(Kamoi et al. Section 5.4, Figure 9).",
        (_glow("uni", "svhn_cropped"), _glow("multi", "svhn_cropped"))),
}
