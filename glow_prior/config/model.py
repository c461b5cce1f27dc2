"""Architecture settings of every model: Glow, RealNVP, the VAE and tabular flows.

Each config has the flags of its binary and `for_data(...)`, which fills in what the data
determines (image shape, number of classes, VAE latent size) and checks that the
architecture fits it.
"""
import dataclasses

from glow_prior.config.common import n_bits_option, seed_option
from glow_prior.config.fields import Config, check, derived, option
from glow_prior.errors import InputError

REALNVP_MASKS = ("checkerboard", "checkerboard_single", "horizontal", "cycle")


def _image_shape(shape):
    return tuple(int(d) for d in shape)


@dataclasses.dataclass(frozen=True)
class GlowConfig(Config):
    """Glow hyperparameters; names and defaults follow openai/glow's train.py.

    Kamoi et al.'s Glow: multiscale=False, flow_coupling=1, scale_offset=0.1,
    three_axis_1x1=True.
    """

    image_shape: tuple = derived((32, 32, 3), "Image shape [H, W, C] (from the data).")
    n_levels: int = option(3, "Number of levels (squeeze + steps).", lower=1)
    depth: int = option(32, "Flow steps per level.", lower=1)
    width: int = option(512, "Hidden channels of the coupling networks.", lower=1)
    flow_permutation: int = option(2, "0: reverse, 1: shuffle, 2: invertible 1x1 "
                                   "convolution.", lower=0, upper=2)
    flow_coupling: int = option(0, "0: additive, 1: affine coupling.", lower=0, upper=1)
    lu_decomposed: bool = option(False, "LU-parameterised invertible 1x1 convolutions.")
    learntop: bool = option(False, "Learn the top prior's mean and scale.")
    ycond: bool = option(False, "Class-conditional top prior.")
    weight_y: float = option(0.0, "Weight of the class prediction loss (with ycond).",
                             lower=0.0)
    n_y: int = derived(10, "Number of classes (from the data, with ycond).")
    n_bits_x: int = n_bits_option()
    scale_offset: float = option(0.0, "Added to the affine coupling scale sigmoid(h + 2); "
                                 "Kamoi et al. use 0.1.", lower=0.0)
    multiscale: bool = option(True, "Split off half of the latent after each level "
                              "(OpenAI); false: one block, no split (Kamoi et al.).")
    three_axis_1x1: bool = option(False, "Three invertible 1x1 convolutions over the "
                                  "height, width and channel axes of the top latent "
                                  "(Kamoi et al.).")
    seed: int = seed_option()

    def for_data(self, image_shape, n_classes):
        """This config for images of `image_shape`; n_y is kept only with ycond."""
        shape = _image_shape(image_shape)
        height, width, _ = shape
        factor = 2 ** self.n_levels
        if height % factor or width % factor:
            raise InputError(
                f"{height}x{width} images cannot be squeezed {self.n_levels} times "
                f"(--n_levels={self.n_levels}): both sides must be divisible by {factor}")
        n_y = int(n_classes) if self.ycond else GlowConfig.n_y
        return self.replace(image_shape=shape, n_y=n_y)


@dataclasses.dataclass(frozen=True)
class RealNVPConfig(Config):
    """RealNVP of Kirichenko et al. (2020), App. C and I."""

    image_shape: tuple = derived((28, 28, 1), "Image shape [H, W, C] (from the data).")
    mask: str = option("checkerboard", "checkerboard: multi-scale RealNVP; "
                       "checkerboard_single / horizontal / cycle: one scale of n_couplings "
                       "couplings.", choices=REALNVP_MASKS)
    n_scales: int = option(2, "Scales of the multi-scale model.", lower=1)
    n_couplings: int = option(8, "Couplings of the single-scale models.", lower=1)
    st_blocks: int = option(6, "Residual blocks per st-network.", lower=1)
    st_width: int = option(64, "Channels of the st-networks (doubled after each squeeze).",
                           lower=1)
    bottleneck: int = option(0, "st-network bottleneck dimension l (0: none).", lower=0)
    logit_alpha: float = option(0.05, "alpha of the logit preprocessing (0: off).",
                                lower=0.0, upper=0.4999)
    n_bits_x: int = n_bits_option()
    seed: int = seed_option()

    def for_data(self, image_shape, n_classes=None):
        """This config for images of `image_shape`, checked against its squeezes and masks."""
        del n_classes
        shape = _image_shape(image_shape)
        height, width, _ = shape
        factor = 2 ** (self.n_scales - 1)
        if self.mask == "checkerboard" and (height % factor or width % factor):
            raise InputError(f"{height}x{width} images cannot be squeezed "
                             f"{self.n_scales - 1} times (--n_scales={self.n_scales})")
        if self.mask == "cycle" and (height % 2 or width % 2):
            raise InputError(f"cycle masks need even image sides, got {height}x{width}")
        return self.replace(image_shape=shape)


VAE_IMAGE_SIZES = {28: 50, 32: 100}  # image side -> the paper's latent size


@dataclasses.dataclass(frozen=True)
class VAEConfig(Config):
    """The VAE of Kamoi et al. (2019), Appendix B, Tables 2 (28x28) and 3 (32x32)."""

    image_shape: tuple = derived((28, 28, 1), "Image shape [H, W, C] (from the data).")
    latent_dim: int = option(0, "Latent dimensions (0: 50 for 28x28 images, 100 for "
                             "32x32).", lower=0)
    importance_samples: int = option(5000, "Importance samples of the test "
                                     "log-likelihood.", lower=1)
    # Images x samples per decoder call while importance sampling (memory bound: the
    # logits of one are 784 x 256 floats for 28x28x1).
    importance_chunk: int = option(512, "Images x samples per decoder call when scoring.",
                                   lower=1)
    seed: int = seed_option()

    def for_data(self, image_shape, n_classes=None):
        """This config for images of `image_shape`, with the paper's latent size where
        latent_dim is 0."""
        del n_classes
        shape = _image_shape(image_shape)
        if shape[0] != shape[1] or shape[0] not in VAE_IMAGE_SIZES:
            raise InputError(f"the VAE architectures are for 28x28 (Table 2) or 32x32 "
                             f"(Table 3) images, got {shape}")
        return self.replace(image_shape=shape,
                            latent_dim=self.latent_dim or VAE_IMAGE_SIZES[shape[0]])


@dataclasses.dataclass(frozen=True)
class TabularFlowConfig(Config):
    """RealNVP on vectors (Kirichenko et al. App. K; Kamoi et al. Section 3.1)."""

    num_dims: int = derived(2, "Features per example (from the data).")
    n_couplings: int = option(8, "Coupling layers.", lower=1)
    hidden_layers: int = option(1, "Hidden layers of the st-network MLPs.", lower=1)
    hidden_units: int = option(256, "Units per hidden layer.", lower=1)
    seed: int = seed_option()

    @check()
    def _enough_features(self):
        if self.num_dims < 2:
            raise InputError(f"coupling layers need at least 2 features, the data has "
                             f"{self.num_dims}")

    def for_data(self, shape, n_classes=None):
        """This config for vectors of `shape` (its last axis is the number of features)."""
        del n_classes
        return self.replace(num_dims=int(shape[-1]))
