"""One synthesis job: images for many inputs written into a folder with a page, resumable, and shared among the
processes of a torchrun launch. test.py and `evaluate.py all --model` (a dataset split, `synthesize_split`) and
scripts/synthesize.py (label-map files) run theirs through `run_synthesis_job`.

The folder's manifest.json records what decides the images (the model's files by SHA-256, the options, the inputs):
a rerun of the same job skips the units (a label map, a batch) whose images are all written, and another job
removes the old images and makes them all again. Under torchrun unit k goes to process k mod N (none twice), every
process prepares its share before anything is written (a bad input anywhere stops all of them), and rank 0 writes
the page once all have finished.
"""
import os
import random
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import torch
from tqdm import tqdm

import data
from data.settings import DataSettings
from util import html
from util.atomic import check_writable_folder
from util.distributed import DistInfo, all_true, barrier, init_distributed
from util.errors import UserError
from util.manifest import ResumableOutputs, sha256
from util.paths import check_output_apart
from util.util import chunks
from util.visualizer import TEST_IMAGE_FOLDERS, add_test_row, save_test_images, test_image_name
from .sources import ResolvedModel
from .synthesizer import Synthesizer


@dataclass(frozen=True)
class SynthesisJob:
    """Which images a job makes, where, and what makes them the same job."""
    folder: str                                  # the images and the page
    option: str                                  # the option that chose the folder (named in errors)
    record: Dict[str, Any]                       # what decides the images (manifest.json; rank 0 reads it)
    units: Sequence[Any]                         # the pieces of work: label maps, batches
    outputs: Callable[[Any], List[str]]          # a unit's files
    images: Callable[[Any], int]                 # how many images a unit makes (the progress bar's)
    inputs: Mapping[str, Sequence[str]]          # {option: paths} the job reads, kept apart from the folder
    unit_name: str                               # 'label maps', 'batches'
    sameness: str                                # what made a rerun the same job, for its note


def model_record(synthesizer: Synthesizer) -> Dict[str, str]:
    """The model's part of a manifest: its files' SHA-256."""
    return {os.path.basename(path): sha256(path) for path in synthesizer.model_files}


def run_synthesis_job(job: SynthesisJob, dist: DistInfo, prepare: Callable[[List[Any]], Iterable[Tuple[Any, Any]]],
                      make: Callable[[Any, Any], None], write_page: Callable[[], str]) -> Tuple[int, str]:
    """Make the images of `job`: `prepare(units)` gives (unit, what `make` needs) for this process's share of the
    units still to make (reading and checking its inputs: a UserError there stops every process before anything is
    written); `make(unit, prepared)` writes a unit's files; rank 0 then writes the page (`write_page` returns its
    path). Returns (the images this run made, over all processes; the page, '' on other ranks)."""
    check_output_apart(job.folder, job.option, job.inputs)
    resumable = ResumableOutputs(job.folder, job.record if dist.is_main else None, job.units, job.outputs, dist)
    mine = dist.share(resumable.todo)
    try:
        prepared = prepare(mine)
    except UserError:
        all_true(False, dist)
        raise
    if not all_true(True, dist):
        raise UserError('another process found a bad input (its message names it); nothing was written')
    if dist.is_main:
        check_writable_folder(job.folder, job.option)
        resumable.begin(job.unit_name, job.sameness)
    barrier(dist)
    total = sum(job.images(unit) for unit in mine)
    with tqdm(total=total, desc='synthesizing', unit='img', disable=not dist.is_main) as progress:
        for unit, payload in prepared:
            make(unit, payload)
            progress.update(job.images(unit))
    barrier(dist)  # every process's images are written
    return sum(job.images(unit) for unit in resumable.todo), write_page() if dist.is_main else ''


@dataclass(frozen=True)
class SplitJob:
    """test.py's job: a model, a dataset split and where the page goes."""
    model: ResolvedModel
    gpu_ids: str
    amp: str
    runtime: Dict[str, Any]        # how the networks compute (models.networks.RUNTIME_ARGUMENTS)
    data: DataSettings
    how_many: float
    results_dir: str
    name: str
    phase: str
    which_epoch: str
    display_winsize: int
    record: Dict[str, Any]         # what decides the images besides the model's files (manifest.json)
    options_table: str             # printed once the model and the data are found ('': not asked for)
    memory_budget: float = 0.0     # GB a model beyond the published sizes may take (models.budget)
    sampling: Optional[Dict[str, Any]] = None  # a diffusion model's sampler settings (Synthesizer's `sampling`)


def batch_seed(seed: int, index: int) -> int:
    """The seed of batch `index`'s noise (the VAE's sampled styles)."""
    return random.Random(f'{seed}/test/{index}').getrandbits(63)


def synthesize_split(job: SplitJob) -> str:
    """test.py's job: every sample of the split synthesized into <results_dir>/<name>/<phase>_<which_epoch>/
    (`_ema` after it for a run's average) with its index.html. Each batch draws its style noise from a seed of its
    own, so the images are the same, byte for byte, whatever the number of processes. Returns that folder."""
    synthesizer = Synthesizer.from_pretrained(job.model, gpu_ids=job.gpu_ids, amp=job.amp, runtime=job.runtime,
                                              memory_budget=job.memory_budget, sampling=job.sampling)
    dist = init_distributed(synthesizer.device.type == 'cuda')
    dataset = data.create_dataset(job.data)
    total = int(min(len(dataset), job.how_many))
    batches = chunks(range(total), job.data.batchSize)
    # A run's average writes beside the plain generator's folder, not over it.
    web_dir = os.path.join(job.results_dir, job.name, f'{job.phase}_{job.which_epoch}{job.model.folder_suffix}')
    image_dir = os.path.join(web_dir, 'images')
    names = [test_image_name(dataset.item_path(index)) for index in range(total)]
    work = SynthesisJob(
        web_dir, '--results_dir',
        {'format': 'cc-fpse test 1', 'model': model_record(synthesizer), **job.record,
         'samples': total} if dist.is_main else {},
        range(len(batches)),
        lambda k: [os.path.join(image_dir, folder, f'{names[index]}.png') for index in batches[k]
                   for folder in TEST_IMAGE_FOLDERS],
        lambda k: len(batches[k]),
        {**data.input_folders(job.data), 'the model folder': [os.path.dirname(f) for f in synthesizer.model_files]},
        'batches', 'model, options and dataset')
    if dist.is_main and job.options_table:
        print(job.options_table)  # once the checkpoint and the data are found (--print_options)

    def prepare(mine: List[int]):
        loader = torch.utils.data.DataLoader(dataset, batch_sampler=[list(batches[k]) for k in mine],
                                             num_workers=job.data.nThreads)
        return zip(mine, loader)

    def make(k: int, batch: Dict[str, Any]) -> None:
        with torch.random.fork_rng(devices=[synthesizer.device] if synthesizer.device.type == 'cuda' else []):
            torch.manual_seed(batch_seed(job.data.seed, k))
            generated = synthesizer.synthesize_batch(batch)
        for b, index in enumerate(batches[k]):
            visuals = {'input_label': batch['label'][b], 'synthesized_image': generated[b],
                       'real_image': batch['image'][b]}
            save_test_images(image_dir, visuals, names[index], synthesizer.labels.colors)

    def write_page() -> str:
        webpage = html.HTML(web_dir, f'Experiment = {job.name}, Phase = {job.phase}, Epoch = {job.which_epoch}')
        for name in names:
            add_test_row(webpage, name, job.display_winsize)
        return webpage.save()

    _, page = run_synthesis_job(work, dist, prepare, make, write_page)
    if dist.is_main:
        print(f'Test page: {page}')
    return web_dir
