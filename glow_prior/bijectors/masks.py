"""Binary masks of RealNVP couplings on images (Dinh et al. 2017; Kirichenko et al. 2020,
App. G/I), as (mask_in, mask_out) pairs over [H, W, C] for couplings.MaskPair:

* checkerboard(parity): mask_in = pixels with (i + j + parity) even, mask_out = the rest;
* channelwise(parity): mask_in = the first half of the channels (parity 0), mask_out = the rest;
* horizontal(parity): mask_in = the top half of the rows (parity 0), mask_out = the bottom;
* quadrant(a, b): mask_in = quadrant a, mask_out = quadrant b, with quadrants numbered
  0 top-left, 1 top-right, 2 bottom-right, 3 bottom-left; the cycle-mask applies
  (0->1), (1->2), (2->3), (3->0), so information from a quadrant needs four layers to come
  back to it.
"""
import numpy as np

from glow_prior.errors import InputError

CYCLE = ((0, 1), (1, 2), (2, 3), (3, 0))


def checkerboard(shape, parity):
    """(mask_in, mask_out) of a checkerboard over height and width, the same in every
    channel; `parity` picks which squares condition."""
    height, width, channels = shape
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    mask_in = ((rows + cols + parity) % 2 == 0).astype(np.float32)
    mask_in = np.repeat(mask_in[..., None], channels, axis=-1)
    return mask_in, 1.0 - mask_in


def channelwise(shape, parity):
    """(mask_in, mask_out) splitting the channels in halves; `parity` picks the conditioning
    half."""
    channels = shape[-1]
    if channels < 2:
        raise InputError("a channel-wise mask needs at least 2 channels")
    mask_in = np.zeros(shape, np.float32)
    mask_in[..., :channels // 2] = 1.0
    mask_in = mask_in if parity == 0 else 1.0 - mask_in
    return mask_in, 1.0 - mask_in


def horizontal(shape, parity):
    """(mask_in, mask_out) splitting the image into top and bottom halves; `parity` picks
    the conditioning half."""
    mask_in = np.zeros(shape, np.float32)
    mask_in[:shape[0] // 2] = 1.0
    mask_in = mask_in if parity == 0 else 1.0 - mask_in
    return mask_in, 1.0 - mask_in


def quadrant_mask(shape, index):
    """A mask of one spatial quadrant (0 top-left, 1 top-right, 2 bottom-right, 3
    bottom-left)."""
    height, width, _ = shape
    if height % 2 or width % 2:
        raise InputError(f"quadrant masks need even sides, got {height}x{width}")
    top = slice(0, height // 2) if index in (0, 1) else slice(height // 2, height)
    left = slice(0, width // 2) if index in (0, 3) else slice(width // 2, width)
    mask = np.zeros(shape, np.float32)
    mask[top, left] = 1.0
    return mask


def quadrant(shape, source, target):
    """(mask_in, mask_out): quadrant `source` conditions quadrant `target` (a cycle-mask
    coupling)."""
    return quadrant_mask(shape, source), quadrant_mask(shape, target)


def cycle_masks(shape, n_couplings):
    """The cycle-mask sequence of Kirichenko et al. (Figure 14) for n_couplings layers."""
    return [quadrant(shape, *CYCLE[i % 4]) for i in range(n_couplings)]
