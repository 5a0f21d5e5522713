"""Compare models side by side on your own label maps: one page with each label map, then each model's images in
columns, and a table of each model's figures at the top.

python scripts/compare.py --models A B C --labels maps/ [--photos photos/] [--seeds 0-3] [--out results/compare]
A model is what synthesize.py's --model takes (a run folder, a model folder, a Hugging Face Hub id), of any method,
or released files described by a preset: PRESET:FOLDER[@EPOCH] (e.g. coco:checkpoints/coco_best@100).

Each model's images are synthesize.py's, written to <out>/<model>/ as it writes them: the same names, the same seeds
(a model that takes no code makes one image a label map), resumable (a rerun makes only what is missing) and under
torchrun shared among the processes. With --photos (the photos of the label maps, matched by file stem) the table
gives each model's layout fidelity (the mean per-class colour error against the photo, 0..1, lower is better, as
scripts/layout_fidelity.py measures it) and its FID against the photos (as `evaluate.py fid` computes it; with few
images FID is far from what thousands give, and it is left out below --min_fid_images).
"""
import importlib.util
import os
from html import escape
import re
from dataclasses import dataclass
from typing import Dict, List

import numpy as np
import torch
from PIL import Image

from data.classes import LabelSet
from data.image_folder import stem
from data.label_maps import list_image_files, read_label_map, read_photo
from models.sources import preset_names, resolve, source_name
from options.parser import OptionParser
from options.shared_arguments import add_sampling_arguments, sampling_of
from options.synthesis_options import parse_seeds
from util import html
from util.distributed import barrier, init_distributed
from util.errors import UserError, run_cli
from util.layout_fidelity import per_class_color_error

PRESET_MODEL = re.compile(r'^(?P<preset>[\w.-]+):(?P<folder>[^@]+)(@(?P<epoch>[\w.-]+))?$')


@dataclass(frozen=True)
class ComparedModel:
    """One column: how synthesize.py names the model, and the column's title and folder."""
    arguments: List[str]
    title: str
    folder: str
    takes_code: bool
    samples: bool     # a diffusion model: it takes the sampler options
    method: str
    labels: LabelSet  # its classes: how its label renders read back


def load_synthesize():
    spec = importlib.util.spec_from_file_location('synthesize_script',
                                                  os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                               'synthesize.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compared_models(given: List[str], out: str) -> List[ComparedModel]:
    models, titles = [], set()
    for index, text in enumerate(given):
        match = PRESET_MODEL.match(text)
        if match and match['preset'] in preset_names() and not os.path.exists(text):
            folder, epoch = os.path.normpath(match['folder']), match['epoch'] or 'latest'
            arguments = ['--preset', match['preset'], '--name', os.path.basename(folder), '--checkpoints_dir',
                         os.path.dirname(folder) or '.', '--which_epoch', epoch]
            resolved = resolve(folder, epoch, preset=match['preset'])
            title = f'{match["preset"]}: {source_name(folder)}'
        else:
            arguments = ['--model', text]
            resolved = resolve(text)
            title = source_name(text)
        if title in titles:
            title = f'{title} ({index + 1})'
        titles.add(title)
        spec = resolved.spec
        slug = re.sub(r'[^\w.-]+', '_', title).strip('_') or f'model{index + 1}'
        models.append(ComparedModel(arguments=arguments, title=title, folder=os.path.join(out, slug),
                                    takes_code=spec.takes_code, samples=spec.samples, method=spec.method,
                                    labels=spec.labels))
    return models


def model_images(model: ComparedModel, name: str, suffixes: List[str]) -> List[str]:
    """The files synthesize.py wrote for label map `name`: one a seed, or one for a model that takes no code."""
    return [os.path.join(model.folder, f'{name}{suffix}.png') for suffix in (suffixes if model.takes_code else [''])]


def figures(model: ComparedModel, maps: Dict[str, str], photos: Dict[str, str], suffixes: List[str],
            args) -> Dict[str, str]:
    """The table's row of a model: its images, and with photos its layout fidelity and FID."""
    row = {'model': model.title, 'method': model.method,
           'images': str(sum(len(model_images(model, name, suffixes)) for name in maps))}
    if not photos:
        return row
    errors = []
    for name in maps:
        image_files = model_images(model, name, suffixes)
        width, height = Image.open(image_files[0]).size
        label = read_label_map(os.path.join(model.folder, 'labels', f'{name}.png'), model.labels, (width, height))
        real = read_photo(photos[name], (width, height))
        for path in image_files:
            fake = torch.from_numpy(np.array(Image.open(path).convert('RGB'))).permute(2, 0, 1).float() / 127.5 - 1
            errors.append(per_class_color_error(fake[None], real[None], label[None]))
    row['layout fidelity (colour error)'] = f'{sum(errors) / len(errors):.4f}'
    images = sum(len(model_images(model, name, suffixes)) for name in maps)
    if images >= args.min_fid_images:
        from util.fid import fid_between
        row['FID'] = f'{fid_between(args.photo_folder, model.folder, args.inception_weights, dims=args.fid_dims):.4f}'
    return row


def build_parser() -> OptionParser:
    parser = OptionParser(description=__doc__)
    parser.add_argument('-h', '--help', action='help', help='show this help message and exit')
    parser.add_argument('--models', nargs='+', required=True, metavar='MODEL',
                        help='run folders, model folders, Hub ids, or PRESET:FOLDER[@EPOCH] for released files')
    parser.add_argument('--labels', nargs='+', required=True, help='label maps, or folders of them')
    parser.add_argument('--photos', default=None,
                        help='a folder of the label maps\' photos (same file stems): adds layout fidelity and FID')
    parser.add_argument('--seeds', default='0', help='the seeds of models that take a code (0-3,7)')
    parser.add_argument('--out', default=os.path.join('results', 'compare'), help='the page and the images')
    parser.add_argument('--gpu_ids', default='0', help='GPU to use; -1 for the CPU')
    parser.add_argument('--min_fid_images', type=int, default=50,
                        help='FID only for models with at least this many images (few images give a large FID)')
    parser.add_argument('--fid_dims', type=int, default=2048, choices=[64, 192, 768, 2048])
    parser.add_argument('--inception_weights', default='', help="pytorch-fid's weights file; default: download")
    parser.add_argument('--display_winsize', type=int, default=192, help='image width on the page')
    add_sampling_arguments(parser)
    return parser


def main() -> None:
    args = build_parser().parse_args()
    parse_seeds(args.seeds)  # one line for a bad range, before any model is loaded
    models = compared_models(args.models, args.out)
    maps = {stem(path): path for path in list_image_files(args.labels, '--labels')}
    photos = {}
    if args.photos:
        photos = {stem(path): path for path in list_image_files([args.photos], '--photos')}
        missing = sorted(set(maps) - set(photos))
        if missing:
            raise UserError(f'--photos {args.photos} has no photo named {missing[0]}.* for the label map '
                            f'{maps[missing[0]]} ({len(missing)} missing): give every label map its photo')
        args.photo_folder = os.path.join(args.out, 'photos')
    sampling = [f'--{key}={value}' for key, value in sampling_of(args).items()]
    synthesize = load_synthesize()
    for model in models:
        print(f'{model.title}:')
        common = ['--labels', *args.labels, '--out', model.folder, '--gpu_ids', args.gpu_ids]
        synthesize.main(model.arguments + common + (['--seeds', args.seeds] if model.takes_code else []) +
                        (sampling if model.samples else []))
    dist = init_distributed(False)  # under torchrun, synthesize.py shared the label maps among the processes
    barrier(dist)
    if not dist.is_main:
        return
    suffixes = [f'_seed{seed}' for seed in parse_seeds(args.seeds)]
    first = models[0]
    width, height = Image.open(model_images(first, next(iter(maps)), suffixes)[0]).size
    if photos:  # the photos at the generators' size, for FID (pytorch-fid reads one folder)
        os.makedirs(args.photo_folder, exist_ok=True)
        for name in maps:
            Image.open(photos[name]).convert('RGB').resize((width, height), Image.BICUBIC).save(
                os.path.join(args.photo_folder, f'{name}.png'))
    rows = [figures(model, maps, photos, suffixes, args) for model in models]
    page = html.HTML(args.out, 'Models side by side', image_subdir='')
    page.add_raw(table_markup(rows))
    for name in maps:
        page.add_header(name)
        files = [os.path.join(os.path.basename(first.folder), 'labels', f'{name}.png')]
        titles = ['label map']
        for model in models:
            for path in model_images(model, name, suffixes):
                files.append(os.path.relpath(path, args.out))
                titles.append(f'{model.title} {os.path.basename(path)[len(name) + 1:-4]}'.strip())
        page.add_images(files, titles, files, width=args.display_winsize)
    print(f'Compared {len(models)} models on {len(maps)} label maps: {page.save()}')
    for row in rows:
        print('  '.join(f'{key} {value}' for key, value in row.items()))


def table_markup(rows: List[Dict[str, str]]) -> str:
    """The figures of every model as an HTML table (columns: every key any row has)."""
    keys = list(dict.fromkeys(key for row in rows for key in row))
    head = ''.join(f'<th>{escape(key)}</th>' for key in keys)
    body = ''.join('<tr>' + ''.join(f'<td>{escape(row.get(key, "-"))}</td>' for key in keys) + '</tr>'
                   for row in rows)
    return f'<table border="1" style="border-collapse: collapse"><tr>{head}</tr>{body}</table>'


if __name__ == '__main__':
    run_cli(main)
