"""Imports an openai/glow TF1 checkpoint into a glow_prior run directory.

    import_openai_checkpoint --checkpoint=PATH/model_best_loss.ckpt --logdir=DIR \
        --image_size=32 [--n_levels=3 --depth=32 --width=512 --flow_permutation=2 \
        --flow_coupling=0 --learntop --n_bits_x=8]

Depth, levels, width, permutation, coupling, learntop, ycond and the multi-scale split are
read from the checkpoint; any of them given as a flag is cross-checked against it. The
image size and n_bits_x are not stored in the weights and must be given (a 5-bit CelebA
model read as 8-bit would score 2.5-3 bits/dim too high). Flags openai/glow has no
counterpart for (--scale_offset, --three_axis_1x1, --seed) are refused. --use_polyak
imports each parameter's Polyak average where it has one and the stored value otherwise,
as openai's polyak_swap does. Every other binary (score, evaluate_ood, export_savedmodel,
visualize) then works on DIR.
"""
import sys

from glow_prior.apps import cli
from glow_prior.config import GlowConfig
from glow_prior.config.export import ImportOptions
from glow_prior.errors import InputError

CHECKED = ("n_levels", "depth", "width", "flow_permutation", "flow_coupling", "learntop",
           "ycond", "lu_decomposed", "multiscale")
USED = ("n_bits_x", "weight_y")  # not in the weights: taken from the flags


def check_flags(args):
    """--n_bits_x must be stated; flags the import cannot honour are refused."""
    if "n_bits_x" not in args.given:
        raise InputError("--n_bits_x is required: an OpenAI checkpoint does not record it "
                         "(openai/glow's default is 8; its CelebA-HQ models use 5)")
    ignored = sorted(name for _, name in GlowConfig.flag_fields()
                     if name in args.given and name not in CHECKED + USED)
    if ignored:
        raise InputError(f"{', '.join('--' + n for n in ignored)} do not apply to an OpenAI "
                         "checkpoint (openai/glow has no such setting); drop them")


def run(args):
    """Imports the checkpoint, cross-checking the architecture flags the user gave."""
    from glow_prior import api  # TensorFlow loads here
    stated = {name: getattr(args.architecture, name) for name in CHECKED
              if name in args.given}
    path = api.import_openai(args.imports, args.architecture, stated)
    print(f"Imported {args.imports.checkpoint} into {path}")


APP = cli.App("import_openai_checkpoint", __doc__,
              {"imports": ImportOptions, "architecture": GlowConfig}, run,
              checks=(check_flags,))
main = APP.main

if __name__ == "__main__":
    sys.exit(main())
