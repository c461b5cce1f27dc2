"""An independent float64 NumPy forward pass of openai/glow's model, for tests.

Written from docs/openai_glow.md (openai/glow's conventions), sharing no code
with glow_prior: the tests check it against the additive fixture produced by OpenAI's own
code, then use it as the oracle for weights the fixture does not provide (the affine
coupling). Parameters are a dict of OpenAI variable names to arrays.
"""
import numpy as np


def squeeze(x):
    b, h, w, c = x.shape
    x = x.reshape(b, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 5, 2, 4)
    return x.reshape(b, h // 2, w // 2, 4 * c)


def conv(x, kernel):
    """tfops conv with edge padding for k > 1: zero pad, border-indicator channel, VALID."""
    k = kernel.shape[0]
    b, h, w, _ = x.shape
    if k > 1:
        pad = (k - 1) // 2
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        border = np.ones((b, h + 2 * pad, w + 2 * pad, 1))
        border[:, pad:pad + h, pad:pad + w, :] = 0.0
        x = np.concatenate([x, border], axis=-1)
    out = np.zeros((b, h, w, kernel.shape[-1]))
    for dy in range(k):
        for dx in range(k):
            out += x[:, dy:dy + h, dx:dx + w, :] @ kernel[dy, dx]
    return out


def actnorm(p, scope, x):
    logs = 3.0 * p[f"{scope}/actnorm_scale/logs"]
    return (x + p[f"{scope}/actnorm_center/b"]) * np.exp(logs), logs.sum() * x.shape[1] * x.shape[2]


def conv_zeros(p, scope, x):
    return (conv(x, p[f"{scope}/W"]) + p[f"{scope}/b"]) * np.exp(3.0 * p[f"{scope}/logs"])


def coupling_nn(p, scope, z1):
    h = np.maximum(actnorm(p, f"{scope}/l_1", conv(z1, p[f"{scope}/l_1/W"]))[0], 0)
    h = np.maximum(actnorm(p, f"{scope}/l_2", conv(h, p[f"{scope}/l_2/W"]))[0], 0)
    return conv_zeros(p, f"{scope}/l_last", h)


def log_normal(x, mean, logsd):
    return (-0.5 * (np.log(2 * np.pi) + 2 * logsd + (x - mean) ** 2 / np.exp(2 * logsd))
            ).reshape(len(x), -1).sum(axis=1)


def objective(params, x_uint8, noise, n_levels, depth, affine, learntop=True):
    """Per-example log-likelihood in nats including -D log 256 (n_bits_x = 8)."""
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    x = x_uint8.astype(np.float64) / 256.0 - 0.5 + noise
    num_dims = np.prod(x.shape[1:])
    obj = np.full(len(x), -num_dims * np.log(256.0))
    z = squeeze(x)
    for level in range(n_levels):
        for step in range(depth):
            scope = f"model/{level}/{step}"
            z, log_det = actnorm(p, scope, z)
            obj += log_det
            weights = p[f"{scope}/invconv/W"]
            z = z @ weights
            obj += np.log(abs(np.linalg.det(weights))) * z.shape[1] * z.shape[2]
            half = z.shape[-1] // 2
            z1, z2 = z[..., :half], z[..., half:]
            h = coupling_nn(p, f"{scope}/f1", z1)
            if affine:
                scale = 1.0 / (1.0 + np.exp(-(h[..., 1::2] + 2.0)))
                z2 = (z2 + h[..., 0::2]) * scale
                obj += np.log(scale).reshape(len(z), -1).sum(axis=1)
            else:
                z2 = z2 + h
            z = np.concatenate([z1, z2], axis=-1)
        if level < n_levels - 1:
            half = z.shape[-1] // 2
            z1, z2 = z[..., :half], z[..., half:]
            h = conv_zeros(p, f"model/pool{level}/conv", z1)
            obj += log_normal(z2, h[..., 0::2], h[..., 1::2])
            z = squeeze(z1)
    channels = z.shape[-1]
    if learntop:
        h = conv_zeros(p, "model/prior/p", np.zeros(z.shape[:3] + (2 * channels,)))
        obj += log_normal(z, h[..., :channels], h[..., channels:])
    else:
        obj += log_normal(z, 0.0, 0.0)
    return obj
