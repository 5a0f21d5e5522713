"""Synthesise images for a dataset split with a trained model: results/<name>/<phase>_<which_epoch>/index.html.

`python test.py ...` in one process, or `torchrun --nproc_per_node=N test.py ...`: every process takes its own
batches (batch k goes to process k mod N, none twice), and rank 0 writes the page once all have finished. Each
batch draws its style noise from a seed of its own, so the images are the same, byte for byte, whatever the number
of processes."""
import os
import random

import torch
from tqdm import tqdm

import data
from options.synthesis_options import synthesizer_from_options
from options.test_options import TestOptions
from util import html
from util.checkpoint import check_writable_folder
from util.distributed import barrier, gather_objects, init_distributed
from util.errors import run_cli
from util.visualizer import add_test_row, save_test_images, test_image_name


def batch_seed(seed: int, index: int) -> int:
    """The seed of batch `index`'s noise (the VAE's sampled styles)."""
    return random.Random(f'{seed}/test/{index}').getrandbits(63)


def main() -> None:
    options = TestOptions()
    opt = options.parse()
    synthesizer = synthesizer_from_options(opt)
    dist = init_distributed(synthesizer.device.type == 'cuda')
    dataset = data.create_dataset(opt)
    total = int(min(len(dataset), opt.how_many))
    batches = [range(start, min(start + opt.batchSize, total)) for start in range(0, total, opt.batchSize)]
    mine = list(range(dist.rank, len(batches), dist.world_size))
    web_dir = os.path.join(opt.results_dir, opt.name, f'{opt.phase}_{opt.which_epoch}')
    if dist.is_main:
        print(options.format_options(opt))  # once the checkpoint and the data are found
        check_writable_folder(web_dir, '--results_dir')
    barrier(dist)
    image_dir = os.path.join(web_dir, 'images')
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=[list(batches[k]) for k in mine],
                                         num_workers=opt.nThreads)
    names = {}
    with tqdm(total=sum(len(batches[k]) for k in mine), desc='synthesizing', unit='img',
              disable=not dist.is_main) as progress:
        for k, batch in zip(mine, loader):
            with torch.random.fork_rng(devices=[synthesizer.device] if synthesizer.device.type == 'cuda' else []):
                torch.manual_seed(batch_seed(opt.seed, k))
                generated = synthesizer.synthesize_batch(batch)
            for b, index in enumerate(batches[k]):
                names[index] = test_image_name(batch['path'][b])
                visuals = {'input_label': batch['label'][b], 'synthesized_image': generated[b],
                           'real_image': batch['image'][b]}
                save_test_images(image_dir, visuals, names[index], synthesizer.labels.colors)
                progress.update(1)
    everyone = gather_objects(names, dist)
    if dist.is_main:
        webpage = html.HTML(web_dir, f'Experiment = {opt.name}, Phase = {opt.phase}, Epoch = {opt.which_epoch}')
        for index, name in sorted((i, n) for part in everyone for i, n in part.items()):
            add_test_row(webpage, name, opt.display_winsize)
        print(f'Test page: {webpage.save()}')


if __name__ == '__main__':
    run_cli(main)
