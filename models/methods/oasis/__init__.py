"""oasis: OASIS (Schönfeld, Sushko et al., ICLR 2021), equal to boschresearch/OASIS: its generator and segmentation
discriminator (networks.py), its class-balanced (N+1)-class loss with LabelMix and its average of every state entry
(objective.py), its label order (the unlabelled class first) and 64-d noise code, and its per-dataset settings."""
import os

import torch

from models.method_registry import LabelOrder, Method, register
from util.arguments import float_in
from . import networks  # noqa: F401 (registers --netG oasis and --netD oasis)

# The public code's per-dataset training settings (its config.py and scripts/train_*.sh): batch size (over its 4
# GPUs), epochs, learning rates, LabelMix weight and EMA decay; other datasets take its general defaults.
OASIS_DEFAULTS = {'batchSize': 32, 'niter': 200, 'lr_g': 0.0001, 'lr_d': 0.0004, 'lambda_labelmix': 10.0,
                  'ema_decay': 0.9999}
OASIS_DATASET_DEFAULTS = {
    'ade20k': {},
    'cityscapes': {'batchSize': 20, 'lr_g': 0.0004, 'lambda_labelmix': 5.0, 'ema_decay': 0.999},
    'coco': {'niter': 100},
}


def oasis_options(parser, is_train: bool) -> None:
    """No instance edges, a 64-d noise code, and for training its own learning rates, LabelMix and VGG options with
    the public code's per-dataset defaults (no learning-rate decay)."""
    dataset = parser.selected('dataset_mode')
    defaults = {**OASIS_DEFAULTS, **OASIS_DATASET_DEFAULTS.get(dataset, {})}
    parser.set_defaults(no_instance=True, z_dim=64, beta1=0.0, beta2=0.999, niter_decay=0,
                        batchSize=defaults['batchSize'], niter=defaults['niter'], ema_decay=defaults['ema_decay'])
    parser.add_argument('--lr_g', type=float_in(0), default=defaults['lr_g'],
                        help="OASIS: the generator's learning rate (Adam with --beta1 0 --beta2 0.999; --lr and the "
                             'two time-scale rule are not used)')
    parser.add_argument('--lr_d', type=float_in(0), default=defaults['lr_d'],
                        help="OASIS: the discriminator's learning rate")
    parser.add_argument('--lambda_labelmix', type=float_in(0), default=defaults['lambda_labelmix'],
                        help='OASIS: weight of the LabelMix regularisation of the discriminator')
    parser.add_argument('--add_vgg_loss', action='store_true', help='OASIS: add the VGG loss (--lambda_vgg) to the '
                                                                    "generator's (off in the paper)")


def unlabeled_first(label: torch.Tensor, inputs) -> torch.Tensor:
    """Channel ids with the unlabelled pixels' channel moved to 0 and the classes before it one up (OASIS's order:
    COCO-Stuff's don't-care 182 becomes 0 and class c becomes c + 1; ADE20K and Cityscapes already start with it)."""
    unlabeled = inputs.unlabeled_channel
    if not unlabeled:  # None (no such channel) or 0 (already first)
        return label
    label = label.long()
    return torch.where(label == unlabeled, torch.zeros_like(label), label + (label < unlabeled).long())


register(Method(
    name='oasis',
    summary='OASIS: a segmentation discriminator, LabelMix, a noise code; its networks and per-dataset settings '
            'by default',
    papers={'oasis': 'Schönfeld, Sushko, Zhang, Gall, Schiele, Khoreva: "You Only Need Adversarial Supervision for '
                     'Semantic Image Synthesis", ICLR 2021 (boschresearch/OASIS)'},
    objective='models.methods.oasis.objective:OASISModel',
    discriminators=('oasis',),
    folder=os.path.dirname(os.path.abspath(__file__)),
    default_generator='oasis',
    label_order=LabelOrder('unlabeled_first', unlabeled_first),
    # OASIS's generator draws its noise code unless built with no_3dnoise (the public code's option); others none.
    draws_noise=lambda arguments: not arguments.get('no_3dnoise', True),
    code_note='a noise code: each seed gives another image of the same label map (--seeds); --restyle draws new '
              'noise for chosen classes',
    add_options=oasis_options,
    hub_entries={f'oasis_{dataset}': (f'oasis_{dataset}', f"OASIS's oasis_{dataset}_pretrained (boschresearch/OASIS)")
                 for dataset in ('ade20k', 'cityscapes', 'coco')},
))
