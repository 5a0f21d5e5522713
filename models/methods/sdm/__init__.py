"""sdm: SDM, "Semantic Image Synthesis via Diffusion Models" (Wang et al., 2022), equal to its public code
(WeilunWang/semantic-diffusion-model, built on openai/guided-diffusion): the UNet whose decoder reads the label map
through SPADE group norms (networks.py), its Gaussian diffusion and samplers (diffusion.py), its training loss
(objective.py), and its label convention. No discriminator: one optimisation step a batch, on the UNet."""
import os

import torch

from models.method_registry import LabelOrder, Method, register
from util.arguments import float_in
from . import networks  # noqa: F401 (registers --netG sdm)
from .sampling import DiffusionSynthesis

# The public code's published training settings (scripts/ade20k.sh, celeba.sh): 4 images per process on 8 GPUs,
# learning rate 1e-4 (2e-5 for fine-tuning with --drop_rate 0.2), the average at 0.9999; ADE20K without instance
# edges, CelebAMask-HQ at 2e-5 from the start. It has no epoch or step limit (its runs were stopped by hand).
SDM_DEFAULTS = {'batchSize': 4, 'lr': 0.0001, 'ema_decay': 0.9999}
SDM_DATASET_DEFAULTS = {'ade20k': {'no_instance': True}, 'celebamask_hq': {'lr': 0.00002}}


def sdm_options(parser, is_train: bool) -> None:
    defaults = {**SDM_DEFAULTS, **SDM_DATASET_DEFAULTS.get(parser.selected('dataset_mode'), {})}
    parser.set_defaults(**defaults)
    parser.add_argument('--drop_rate', type=float_in(0, 1, high_included=False), default=0.0,
                        help='SDM: each label map is zeroed with this probability (fine-tuning for classifier-free '
                             'guidance: 0.2 in the public scripts)')


def other_last(label: torch.Tensor, inputs) -> torch.Tensor:
    """The public code's channel ids: ADE20K's "other" (0 here, as the files store it) becomes the last channel,
    150, and class c becomes c - 1 (its uint8 `label - 1`); the other datasets' ids are used as they are (COCO-Stuff's
    don't-care is 182 in both)."""
    if inputs.dataset_mode != 'ade20k':
        return label
    label = label.long()
    return torch.where(label == 0, torch.full_like(label, inputs.num_labels - 1), label - 1)


register(Method(
    name='sdm',
    summary='SDM: a diffusion model whose UNet decoder reads the label map (one step a batch, no discriminator)',
    papers={'sdm': 'Wang, Bao, Zhou, Chen, Chen, Zhang, Li: "Semantic Image Synthesis via Diffusion Models", 2022 '
                   '(WeilunWang/semantic-diffusion-model)'},
    objective='models.methods.sdm.objective:SDMModel',
    discriminators=(),
    folder=os.path.dirname(os.path.abspath(__file__)),
    default_generator='sdm',
    label_order=LabelOrder('other_last', other_last),
    add_options=sdm_options,
    synthesis=DiffusionSynthesis,
    code_note="a seed: the sampler draws x_T and every step's noise from it (--seeds), with --sampler ddpm|ddim, "
              '--steps and --guidance (1.5 published)',
    hub_entries={'sdm_ade20k': ('sdm_ade20k', "SDM's ADE20K model (WeilunWang/semantic-diffusion-model)"),
                 'sdm_celeba': ('sdm_celeba', "SDM's CelebAMask-HQ model (WeilunWang/semantic-diffusion-model)")},
))
