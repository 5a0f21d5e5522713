"""Measure how well a trained model follows the synthetic layouts.

python scripts/layout_fidelity.py --name NAME [--checkpoints_dir DIR] [--how_many N] [test options]
                                  [--sampler dpm++ --steps 20]   # a diffusion model's sampler
Prints the per-class mean colour error (0..1) of the trained model, of the same model untrained, and of a
layout-blind image (each photo's mean colour everywhere); a model that follows the layouts beats both.
"""

import torch


import data
from models.from_options import runtime_from_options
from models.spec import build_networks
from models.synthesizer import Synthesizer
from options.data_settings import data_settings
from options.shared_arguments import sampling_of
from options.test_options import TestOptions
from util.errors import UserError, run_cli
from util.layout_fidelity import layout_blind_baseline, per_class_color_error


def measure(synthesize, dataloader, how_many: float) -> float:
    errors, seen = [], 0
    for batch in dataloader:
        if seen >= how_many:
            break
        fake = synthesize(batch).cpu()
        errors.append(per_class_color_error(fake, batch['image'], batch['label']))
        seen += fake.shape[0]
    return sum(errors) / len(errors)


def main() -> None:
    options = TestOptions()
    opt = options.parse(quiet=True)
    if opt.dataset_mode != 'synthetic':
        raise UserError('layout_fidelity.py measures models trained on --dataset_mode synthetic')
    dataloader = data.create_dataloader(data_settings(opt))
    trained = Synthesizer.from_pretrained(options.model_of(opt), gpu_ids=opt.gpu_ids, amp=opt.amp,
                                          runtime=runtime_from_options(opt), sampling=sampling_of(opt))
    torch.manual_seed(opt.seed)
    # The same networks with fresh weights. Untrained batch norms have no running statistics yet, so the fresh
    # model runs on batch statistics.
    fresh = build_networks(trained.spec, trained.device, runtime_from_options(opt),
                           init=(opt.init_type, opt.init_variance))
    untrained = Synthesizer(fresh['G'].train(), fresh['E'] and fresh['E'].train(), trained.spec, trained.device,
                            opt.amp, sampling=trained.sampling)
    print('How well the images follow their layouts: the mean per-class colour error against the real photos '
          '(0..1, lower is better)')
    rows = [('trained', trained.synthesize_batch, 'the model just trained'),
            ('untrained', untrained.synthesize_batch, 'the same network with fresh weights'),
            ('layout_blind', lambda b: layout_blind_baseline(b['image']), "each photo's mean colour everywhere")]
    for name, synthesize, meaning in rows:
        print(f'color_error {name:<12} {measure(synthesize, dataloader, opt.how_many):.4f}   {meaning}')


if __name__ == '__main__':
    run_cli(main)
