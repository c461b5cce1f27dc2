"""How the prior is built and how training examples are assigned to its components
(Kamoi et al. 2019; the densities themselves are in glow_prior.models.priors)."""
import dataclasses

from glow_prior.config.common import seed_option
from glow_prior.config.fields import Config, check, option
from glow_prior.errors import InputError

KINDS = ("standard", "gaussian_mixture", "generalized_gaussian_mixture")
LAYOUTS = ("two_sided", "line", "onehot")
ASSIGNMENTS = ("labels", "kmeans")


def parse_means(spec):
    """'50;-50' or '1,2;3,4' -> ((50.0,), (-50.0,)): rows of leading coordinates."""
    if not spec:
        return None
    return tuple(tuple(float(v) for v in row.split(",")) for row in spec.split(";"))


def format_means(means):
    """The flag text of explicit means (the inverse of parse_means)."""
    if means is None:
        return ""
    return ";".join(",".join(repr(float(v)) for v in row) for row in means)


def parse_label_map(spec):
    """'1:0,7:1' -> {1: 0, 7: 1} ({} for an empty spec)."""
    mapping = {}
    for item in filter(None, spec.split(",")):
        label, _, component = item.partition(":")
        try:
            mapping[int(label)] = int(component)
        except ValueError as error:
            raise InputError(f"label map entry '{item}' is not LABEL:COMPONENT") from error
    return mapping


@dataclasses.dataclass(frozen=True)
class PriorConfig(Config):
    """The prior and the assignment of training examples to its components.

    kind: one of KINDS. n_components, layout, distance, explicit_means: see
    glow_prior.models.priors.component_means. beta: generalized-normal power. assignment: "labels"
    (label_map, e.g. "1:0,7:1"; empty = sorted labels numbered 0, 1, ...) or "kmeans"
    (k-means++ clusters of the training inputs, seeded by assignment_seed). With the
    standard prior the mixture settings do not apply and are kept at their defaults.
    """

    kind: str = option("standard", "Prior over the latent.", flag="prior", choices=KINDS)
    n_components: int = option(2, "Mixture components.", lower=1)
    layout: str = option("two_sided", "Placement of component means: two_sided "
                         "[+-d/2,0,..], line [d*k,0,..], onehot d*e_k.", flag="prior_layout",
                         choices=LAYOUTS)
    distance: float = option(100.0, "The distance d of --prior_layout.",
                             flag="prior_distance", lower=0.0)
    explicit_means: tuple = option(None, "Explicit means: ';'-separated rows of leading "
                                   "coordinates, e.g. '50;-50' (overrides --prior_layout).",
                                   flag="prior_means", parse=parse_means,
                                   format_value=format_means)
    beta: float = option(4.0, "Power of the generalized Gaussian mixture.",
                         flag="prior_beta", lower=0.1)
    assignment: str = option("labels", "How training examples are assigned to components.",
                             choices=ASSIGNMENTS)
    label_map: str = option("", "LABEL:COMPONENT pairs, e.g. '1:0,7:1' (default: sorted "
                            "labels numbered 0, 1, ...).")
    assignment_seed: int = seed_option(flag="seed")

    def __post_init__(self):
        if self.kind == "standard":  # the mixture settings do not apply
            for field in dataclasses.fields(self):
                if field.name not in ("kind", "assignment_seed"):
                    object.__setattr__(self, field.name, field.default)
        super().__post_init__()

    @property
    def is_mixture(self):
        """Whether the prior has several components."""
        return self.kind != "standard"

    @check("kind", "n_components")
    def _enough_components(self):
        if self.kind != "standard" and self.n_components < 2:
            raise InputError("a mixture prior needs n_components >= 2")

    @check("kind", "layout", "n_components", "explicit_means")
    def _layout_fits(self):
        if not self.is_mixture:
            return
        if self.explicit_means is not None:
            if len(self.explicit_means) != self.n_components:
                raise InputError(f"--prior_means gives {len(self.explicit_means)} means for "
                                 f"{self.n_components} components")
        elif self.layout == "two_sided" and self.n_components != 2:
            raise InputError(f"layout two_sided needs 2 components, got {self.n_components}")

    @check("kind", "label_map", "n_components")
    def _label_map_fits(self):
        if not self.is_mixture:
            return
        mapping = parse_label_map(self.label_map)
        beyond = sorted({c for c in mapping.values() if not 0 <= c < self.n_components})
        if beyond:
            raise InputError(f"label map '{self.label_map}' names component(s) {beyond} of a "
                             f"{self.n_components}-component prior")

    def check_labels(self, labels):
        """Raises InputError unless the label map covers exactly the trained `labels`."""
        if not self.is_mixture or self.assignment != "labels" or not self.label_map:
            return
        mapped = set(parse_label_map(self.label_map))
        if labels and mapped != set(labels):
            raise InputError(
                f"--label_map '{self.label_map}' maps labels {sorted(mapped)} but --labels "
                f"trains on {sorted(labels)}: map every trained label, and only those")
