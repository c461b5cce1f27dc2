"""The interface every model implements: a TFP distribution over the user's own data.

Every model (FlowModel for Glow, RealNVP and tabular flows; VAE) is a `tfd.Distribution`
over one example, with TFP's shape semantics:

* `dtype`: tf.uint8 for image models (pixel values 0..255; integer arrays of other dtypes
  are accepted when their values are in 0..255), the model's float dtype for vectors;
* `event_shape`: [H, W, C] or [D]; `batch_shape`: [] (a model is one distribution);
* `log_prob(x, labels=None, seed=None)`: x of shape sample_shape + event_shape -> the
  log-likelihood in nats, of shape sample_shape. Image flows: OpenAI's discrete
  log-likelihood log p(x_in) - D log(n_bins), x_in = x / n_bins - 0.5, each pixel on its
  bin's lower edge (with `seed`: plus uniform dequantisation noise drawn from it, which
  then depends on the batch layout); VAE: the importance-sampled estimate with
  `importance_samples` samples (seed: its draws, 0 by default; the same draws serve every
  example, so values do not depend on the batch layout); vectors: the log-density, float
  vectors of another precision converted to the model's dtype as TFP converts. Input
  outside the model's domain (float images, values outside 0..255, another shape, labels
  outside 0..n_classes-1) raises InputError;
* `sample(sample_shape=(), seed=None, temperature=1.0, labels=None)`: samples of shape
  sample_shape + event_shape (seed: an int or a pair, glow_prior.seeds; None: fresh
  randomness, as in TFP);
* `statistics(x, labels=None, seed=None)`: {name: per-example values}, shaped like
  log_prob's (plus [K] for component terms), with at least "log_likelihood";
* `encode(x, labels=None, seed=None)` (flows: z, pixels at their bins' centres unless a
  noise seed is given; VAE: posterior means) and `decode(z, labels=None)`;
* `labels`: class labels of the batch shape, for class-conditional models only
  (`conditional`; values 0..`n_classes`-1);
* `float_dtype`: the precision the model computes in (float32, or float64 where the model
  allows it), fixed when it is built.

What a model implements, on inputs with one batch axis that are already checked:
`_log_likelihood(x, labels, seed)`, `_statistics(x, labels, seed)`, `_encode(x, labels,
seed)`, `_decode(z, labels)`, `_draw(n, seed, temperature, labels)`, and for training
`train_log_likelihood(batch, seed)` (batch: a glow_prior.models.batch.Batch; what training
maximises, with each example's assigned prior component when the batch has them) and
`initialize(x)` / `needs_initialization()` (OpenAI's data-dependent init on training
examples, arrays or a Batch; a model without one never needs it). `discrete` (pixel data, discrete log-likelihood) and
`dequantized` (training adds uniform noise) describe the data.

Capabilities (`model.capabilities`, a frozenset) declare the rest:

* COMPONENTS: a mixture prior; statistics adds "component_log_likelihood" [..., K] (each
  component used as the whole prior) and log_prob_per_component exists;
* FLOW_TERMS: a flow; statistics adds "log_det" (log|det dz/dx|), "log_prior" (log p(z)) and
  "latent_norm" (||z||);
* LEVELS: a multi-scale flow that factors out latents between levels, with a factorised
  (standard) prior; statistics adds "level_k", each level's share of the log-likelihood
  (they sum to it);
* ELBO_TERMS / POSTERIOR: a VAE; statistics adds "elbo", "reconstruction" (E_q log p(x|z),
  one sample) and "kl"; `posterior(x)` exists;
* IMAGES: examples are images [H, W, C] (else vectors).
"""
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from glow_prior.errors import InputError, wrapped_error
from glow_prior.seeds import fresh_seed, seed_pair

tfd = tfp.distributions

COMPONENTS = "components"
FLOW_TERMS = "flow_terms"
LEVELS = "levels"
ELBO_TERMS = "elbo_terms"
POSTERIOR = "posterior"
IMAGES = "images"

FLOAT_DTYPES = {"float32": tf.float32, "float64": tf.float64}


def as_float_dtype(name):
    """tf.float32 or tf.float64 from a name or a dtype; InputError otherwise."""
    dtype = FLOAT_DTYPES.get(name) if isinstance(name, str) else tf.as_dtype(name)
    if dtype not in FLOAT_DTYPES.values():
        raise InputError(f"a model computes in float32 or float64, not {name}")
    return dtype


class _FunctionCache:
    """tf.functions of one model (a plain object, so tf.Module does not track it)."""

    def __init__(self):
        self.functions = {}


class _Compiled:
    """A tf.function that re-raises the project's errors TensorFlow wrapped while tracing
    (glow_prior.errors.wrapped_error) as themselves."""

    def __init__(self, function):
        self.function = function

    def __call__(self, *args, **kwargs):
        try:
            return self.function(*args, **kwargs)
        except Exception as error:  # pylint: disable=broad-except
            original = wrapped_error(error)
            if original is None:
                raise
            raise original from None

    def __getattr__(self, name):
        return getattr(self.function, name)


def _batch_shape(x, event_rank):
    return tf.shape(x)[:x.shape.rank - event_rank], x.shape[:x.shape.rank - event_rank]


def _one_example_like(tensor):
    """Zeros of one example of `tensor`'s per-example shape (or None for None)."""
    if tensor is None:
        return None
    return tf.zeros(tf.concat([[1], tf.shape(tensor)[1:]], 0), tensor.dtype)


def any_batch(function, flat, labels, *args, dynamic=False):
    """function(flat, labels, *args), also for a batch of 0. oneDNN's CPU convolutions
    return tensors of the wrong shape for an empty batch (their input's shape), so an empty
    batch is computed as one example of zeros and sliced to none. A batch size known to be
    0 is handled here; one unknown until run time only with `dynamic` (a tf.cond, which
    the SavedModel's signatures use: it would change the graphs evaluation compiles)."""
    def empty():
        result = function(_one_example_like(flat), _one_example_like(labels), *args)
        return tf.nest.map_structure(lambda t: t[:0], result)

    size = flat.shape[0]
    if size == 0:
        return empty()
    if size is not None or not dynamic:
        return function(flat, labels, *args)
    return tf.cond(tf.shape(flat)[0] > 0, lambda: function(flat, labels, *args), empty)


def _unflatten(value, batch_shape, static_batch):
    value = tf.reshape(value, tf.concat([batch_shape, tf.shape(value)[1:]], 0))
    value.set_shape(static_batch.concatenate(value.shape[static_batch.rank:]))
    return value


class DensityModel(tfd.Distribution):
    """Base of every model: the public TFP interface above over the `_` methods each model
    implements, input checks, and the compiled-function cache."""

    def __init__(self, example_shape, images, float_dtype, name):
        """images: examples are uint8 images (else vectors of `float_dtype`)."""
        float_dtype = as_float_dtype(float_dtype)
        super().__init__(dtype=tf.uint8 if images else float_dtype,
                         reparameterization_type=tfd.NOT_REPARAMETERIZED,
                         validate_args=False, allow_nan_stats=True, parameters={},
                         name=name)
        self.example_shape = tuple(int(d) for d in example_shape)
        self.num_dims = int(np.prod(self.example_shape))
        self.float_dtype = float_dtype
        self._functions = _FunctionCache()

    # ------------------------------------------------------------- what models declare
    @property
    def capabilities(self):
        """The capabilities this model declares (see the module docstring)."""
        raise NotImplementedError

    def supports(self, capability):
        """Whether the model has `capability`."""
        return capability in self.capabilities

    conditional = False  # True: log-likelihoods need class labels
    n_classes = None  # the classes of a class-conditional model (labels 0..n_classes-1)
    discrete = False  # pixel data with a discrete log-likelihood
    dequantized = False  # training adds uniform dequantisation noise

    def needs_initialization(self):
        """True while a data-dependent init is due (never, for models without one)."""
        return False

    def initialize(self, x, labels=None, seed=0):
        """The data-dependent init on training examples x (flows: OpenAI's actnorm init);
        nothing to do for models without one."""
        del x, labels, seed

    def compiled(self, name):
        """tf.function of self.<name>, built once (shape-polymorphic in the batch); an
        input error raised while it traces reaches the caller as itself."""
        functions = self._functions.functions
        if name not in functions:
            functions[name] = _Compiled(tf.function(getattr(self, name), reduce_retracing=True))
        return functions[name]

    # --------------------------------------------------------------------- TFP's side
    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        """No TFP parameters: the weights are variables and `parameters` is empty, so TFP
        never slices or rebuilds a model (each subclass repeats this, as TFP asks)."""
        return {}

    def _event_shape(self):
        return tf.TensorShape(self.example_shape)

    def _event_shape_tensor(self):
        return tf.constant(self.example_shape, tf.int32)

    def _batch_shape(self):
        return tf.TensorShape([])

    def _batch_shape_tensor(self):
        return tf.constant([], tf.int32)

    def _call_log_prob(self, value, name, **kwargs):
        # TFP converts `value` with dtype_hint=self.dtype, which silently casts float
        # arrays to uint8 (0.5 -> 0) and wraps integers (300 -> 44): check it first.
        return super()._call_log_prob(self.checked_examples(value), name, **kwargs)

    def _call_prob(self, value, name, **kwargs):
        return super()._call_prob(self.checked_examples(value), name, **kwargs)

    def _log_prob(self, x, labels=None, seed=None):
        return self._per_example(self._log_likelihood, x, labels, seed)

    def _sample_n(self, n, seed=None, temperature=1.0, labels=None):
        if labels is not None:
            labels = self._checked_labels(tf.reshape(labels, [-1]), tf.reshape(n, [1]))
        elif self.conditional:
            raise InputError("this model is class-conditional: pass labels (of the "
                             "sample shape)")
        seed = fresh_seed() if seed is None else seed_pair(seed)
        if tf.get_static_value(n) == 0:
            return self._draw(1, seed, temperature, _one_example_like(labels))[:0]
        return self._draw(n, seed, temperature, labels)

    # ---------------------------------------------------------------- the public API
    def log_prob(self, value, labels=None, seed=None, name="log_prob"):
        """The log-likelihood of `value` in nats, of shape sample_shape.

        value: examples of shape sample_shape + event_shape: uint8 images (integer pixel
        values 0..255) for image models, float vectors for vector models (other float
        precisions are converted to the model's dtype, as TFP does).
        Image flows: OpenAI's discrete log-likelihood log p(x_in) - D log(n_bins), each pixel
        on its bin's lower edge, or with `seed` (an int or a pair) plus uniform
        dequantisation noise drawn from it. VAE: the importance-sampled estimate with
        `importance_samples` draws from `seed` (0 when None), the same draws for every
        example, so the value is a fixed function of the image. Vectors: the log-density.
        labels: class labels of the sample shape, for class-conditional models
        (`conditional`) only, in 0..n_classes-1.
        Raises InputError for input outside the model's domain.
        """
        return super().log_prob(value, name=name, labels=labels, seed=seed)

    def sample(self, sample_shape=(), seed=None, temperature=1.0, labels=None, name="sample"):
        """Samples of shape sample_shape + event_shape (uint8 images or vectors).

        seed: an int or a pair (glow_prior.seeds): the same seed gives the same samples;
        None: fresh randomness on every call, as in TFP. temperature: the prior's
        deviations are scaled by it (Glow's sampling temperature; 1 samples the model).
        labels: class labels of the sample shape, for class-conditional models only.
        """
        return super().sample(sample_shape, seed=seed, name=name, temperature=temperature,
                              labels=labels)

    def copy(self, **override_parameters):
        """Refused: a model's weights are variables, which TFP's copy() cannot carry over.
        glow_prior.models.registry.copy_model(model) builds a second model with the same
        settings and weights."""
        raise InputError("a glow_prior model cannot be copied with Distribution.copy() (its "
                         "weights are variables, not parameters); use "
                         "glow_prior.models.registry.copy_model(model)")

    def statistics(self, x, labels=None, seed=None):
        """Per-example statistics of x (any batch shape): {name: values}."""
        x, labels, batch_shape, static = self._flat_inputs(x, labels)
        stats = any_batch(self._statistics, x, labels, seed)
        return {key: _unflatten(value, batch_shape, static) for key, value in stats.items()}

    def encode(self, x, labels=None, seed=None):
        """Latents of x (any batch shape): [..., D]."""
        return self._per_example(self._encode, x, labels, seed)

    def decode(self, z, labels=None):
        """Examples of latents z [..., D] (uint8 images for image models)."""
        z = tf.convert_to_tensor(z, self.float_dtype)
        batch_shape, static = _batch_shape(z, 1)
        flat = tf.reshape(z, [-1, z.shape[-1]])
        if labels is not None:
            labels = tf.reshape(self._checked_labels(labels, batch_shape), [-1])
        elif self.conditional:
            raise InputError("this model is class-conditional: pass labels")
        return _unflatten(any_batch(self._decode, flat, labels), batch_shape, static)

    # ------------------------------------------------------------------ input checks
    def _per_example(self, method, x, labels, seed):
        x, labels, batch_shape, static = self._flat_inputs(x, labels)
        return _unflatten(any_batch(method, x, labels, seed), batch_shape, static)

    def _flat_inputs(self, x, labels):
        """(x [N, *event], labels [N] or None, batch shape tensor, static batch shape)."""
        x = self.checked_examples(x)
        batch_shape, static = _batch_shape(x, len(self.example_shape))
        flat = tf.reshape(x, [-1, *self.example_shape])
        if labels is not None:
            labels = tf.reshape(self._checked_labels(labels, batch_shape), [-1])
        elif self.conditional:
            raise InputError("this model is class-conditional: pass labels (one per "
                             "example)")
        return flat, labels, batch_shape, static

    def _checked_labels(self, labels, batch_shape):
        if not self.conditional:
            raise InputError("this model is not class-conditional; do not pass labels")
        labels = tf.convert_to_tensor(labels)
        if not labels.dtype.is_integer:
            raise InputError(f"labels must be integers, got {labels.dtype.name}")
        return tf.broadcast_to(_in_range(labels, self.n_classes), batch_shape)

    def checked_examples(self, x):
        """x as a tensor of this model's dtype, or InputError naming what does not fit:
        the trailing shape must be the event shape; images must be integer pixel values
        in 0..255 (uint8, or another integer dtype checked eagerly); vectors must be floats
        (converted to the model's dtype, as TFP converts)."""
        x = tf.convert_to_tensor(x)  # no dtype_hint: it would cast floats to uint8
        shape, event = x.shape, self.example_shape
        if shape.rank is None or shape.rank < len(event) or \
                tuple(shape[shape.rank - len(event):]) != event:
            raise InputError(f"examples of this model have shape {event}; got an array of "
                             f"shape {tuple(shape) if shape.rank is not None else '?'} "
                             f"(any batch axes, then {event})")
        if self.dtype == tf.uint8:
            return _as_pixels(x)
        if not x.dtype.is_floating:
            raise InputError(f"this model takes float vectors, got {x.dtype.name}")
        return tf.cast(x, self.dtype)


def _in_range(labels, n_classes):
    """labels, checked to lie in 0..n_classes-1 (eagerly: InputError; in a graph: an
    assertion)."""
    message = f"labels must be in 0..{n_classes - 1} (the model has {n_classes} classes)"
    if tf.executing_eagerly():
        values = labels.numpy()
        if values.size and (values.min() < 0 or values.max() >= n_classes):
            raise InputError(f"{message}, got {values.min()}..{values.max()}")
        return labels
    with tf.control_dependencies([
            tf.debugging.assert_non_negative(labels, message),
            tf.debugging.assert_less(labels, tf.constant(n_classes, labels.dtype), message)]):
        return tf.identity(labels)


def _as_pixels(x):
    """uint8 pixels of an integer array in 0..255 (InputError for anything else)."""
    if x.dtype == tf.uint8:
        return x
    if not x.dtype.is_integer:
        raise InputError(f"image models take integer pixel values 0..255 (uint8), got "
                         f"{x.dtype.name}; for floats in [0, 1], pass "
                         "np.round(x * 255).astype(np.uint8)")
    if tf.executing_eagerly():
        values = x.numpy()
        if values.size and (values.min() < 0 or values.max() > 255):
            raise InputError(f"pixel values must be in 0..255, got {values.min()}.."
                             f"{values.max()}")
    else:
        with tf.control_dependencies([
                tf.debugging.assert_non_negative(x, "pixel values must be in 0..255"),
                tf.debugging.assert_less_equal(x, tf.constant(255, x.dtype),
                                               "pixel values must be in 0..255")]):
            x = tf.identity(x)
    return tf.cast(x, tf.uint8)
