"""Synthesizing a dataset split with a trained model: test.py's job, and `evaluate.py all --model`'s first step.

A rerun of the same job skips the batches whose images are all written (manifest.json beside index.html records
the model files' SHA-256, the options and the dataset folder); a changed job starts over. Under torchrun every
process takes its own batches (batch k goes to process k mod N, none twice), and rank 0 writes the page once all
have finished. Each batch draws its style noise from a seed of its own, so the images are the same, byte for byte,
whatever the number of processes."""
import os
import random
from typing import List

import torch
from tqdm import tqdm

import data
from options.run_settings import SplitJob
from util import html
from util.util import chunks
from util.checkpoint import check_writable_folder, sha256
from util.distributed import barrier, init_distributed
from util.manifest import ResumableOutputs
from util.paths import check_output_apart
from util.visualizer import TEST_IMAGE_FOLDERS, add_test_row, save_test_images, test_image_name


def batch_seed(seed: int, index: int) -> int:
    """The seed of batch `index`'s noise (the VAE's sampled styles)."""
    return random.Random(f'{seed}/test/{index}').getrandbits(63)


def job_record(job: SplitJob, synthesizer, total: int) -> dict:
    """What decides the images: the model's files, the options that change pixels or which samples are made, and
    the dataset."""
    return {'format': 'cc-fpse test 1',
            'model': {os.path.basename(path): sha256(path) for path in synthesizer.model_files},
            **job.record, 'samples': total}


def synthesize_split(job: SplitJob) -> str:
    """test.py's job: every sample of the split synthesized into <results_dir>/<name>/<phase>_<which_epoch>/
    (resuming a job that was cut short), with its index.html; under torchrun, each process its own batches.
    Returns that folder. The options table is printed once the model and the data are found."""
    synthesizer = job.load_synthesizer()
    dist = init_distributed(synthesizer.device.type == 'cuda')
    dataset = data.create_dataset(job.data)
    total = int(min(len(dataset), job.how_many))
    batches = chunks(range(total), job.data.batchSize)
    web_dir = os.path.join(job.results_dir, job.name, f'{job.phase}_{job.which_epoch}')
    check_output_apart(web_dir, '--results_dir', {**data.input_folders(job.data),
                                                  'the model folder': [os.path.dirname(f) for f in synthesizer.model_files]})
    image_dir = os.path.join(web_dir, 'images')
    names = [test_image_name(dataset.item_path(index)) for index in range(total)]

    def outputs(k: int) -> List[str]:
        return [os.path.join(image_dir, folder, f'{names[index]}.png') for index in batches[k]
                for folder in TEST_IMAGE_FOLDERS]
    # A rerun of the same job (model files, options, dataset) skips the batches whose images are all written.
    resumable = ResumableOutputs(web_dir, job_record(job, synthesizer, total) if dist.is_main else None,
                                    range(len(batches)), outputs, dist)
    mine = dist.share(resumable.todo)
    if dist.is_main:
        print(job.options_table)  # once the checkpoint and the data are found
        check_writable_folder(web_dir, '--results_dir')
        resumable.begin('batches', 'model, options and dataset')
    barrier(dist)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=[list(batches[k]) for k in mine],
                                         num_workers=job.data.nThreads)
    with tqdm(total=sum(len(batches[k]) for k in mine), desc='synthesizing', unit='img',
              disable=not dist.is_main) as progress:
        for k, batch in zip(mine, loader):
            with torch.random.fork_rng(devices=[synthesizer.device] if synthesizer.device.type == 'cuda' else []):
                torch.manual_seed(batch_seed(job.data.seed, k))
                generated = synthesizer.synthesize_batch(batch)
            for b, index in enumerate(batches[k]):
                visuals = {'input_label': batch['label'][b], 'synthesized_image': generated[b],
                           'real_image': batch['image'][b]}
                save_test_images(image_dir, visuals, names[index], synthesizer.labels.colors)
                progress.update(1)
    barrier(dist)  # every process's images are written
    if dist.is_main:
        webpage = html.HTML(web_dir, f'Experiment = {job.name}, Phase = {job.phase}, Epoch = {job.which_epoch}')
        for name in names:
            add_test_row(webpage, name, job.display_winsize)
        print(f'Test page: {webpage.save()}')
    return web_dir
