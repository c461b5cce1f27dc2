"""What one training batch carries: a typed record, not a dict."""
import dataclasses

from glow_prior.errors import InputError


@dataclasses.dataclass(frozen=True)
class Batch:
    """What one training batch carries (tensors with one batch axis; None when absent):

    x: uint8 images or float vectors; labels: class labels (class-conditional models);
    components: each example's assigned prior component (mixture-prior training);
    noise: x's dequantisation noise; negatives / negative_noise: OOD examples of negative
    training and their noise.

    Through tf.data and tf.distribute a batch travels as a dict of its present fields
    (`as_mapping` / `from_mapping`); unknown keys are refused, so a misspelt field cannot
    silently drop out of training."""

    x: object
    labels: object = None
    components: object = None
    noise: object = None
    negatives: object = None
    negative_noise: object = None

    def as_mapping(self):
        """The present fields as a dict (how a batch travels through tf.data and
        tf.distribute)."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)
                if getattr(self, field.name) is not None}

    @classmethod
    def from_mapping(cls, mapping):
        unknown = sorted(set(mapping) - set(BATCH_FIELDS))
        if unknown:
            raise InputError(f"batch fields {unknown} are unknown; a batch has "
                             f"{', '.join(BATCH_FIELDS)}")
        return cls(**mapping)


BATCH_FIELDS = tuple(field.name for field in dataclasses.fields(Batch))
