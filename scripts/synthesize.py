"""Synthesize images from your own label maps, with a model trained here or the authors' released checkpoints.

python scripts/synthesize.py --name NAME [--which_epoch latest] --labels maps/ [--seeds 0-3,7 | --style_image photo.jpg]
python scripts/synthesize.py --model SOURCE --labels maps/    # a converted model folder, a run folder or a Hub id
python scripts/synthesize.py --model exported/NAME-onnx --backend onnxruntime --labels maps/
python scripts/synthesize.py --preset coco --name coco_best --which_epoch 100 --labels map.png
python scripts/synthesize.py --name NAME --list_classes

Under `torchrun --nproc_per_node=N`, label map k goes to process k mod N and rank 0 writes index.html once all
have finished; the images are those one process writes.
Writes <stem>_seed<N>.png (or <stem>_<photo stem>.png, or <stem>.png for a model without a style encoder),
labels/<stem>.png (the label map in the model's palette; it reads back as the same map) and index.html into --out.
"""
import argparse
import os
from typing import Dict, List, Optional, Tuple

import torch


from data.image_folder import stem
from data.label_maps import list_image_files, read_instance_map, read_label_map, read_photo, render_label_map
from models.sources import average_suffix
from models.synthesis_job import SynthesisJob, model_record, run_synthesis_job
from models.synthesizer import BACKENDS, Synthesizer
from options.parser import OptionParser
from options.synthesis_options import (SEED_LIMIT, add_input_limit_argument, add_model_arguments, model_name,
                                       model_of_arguments, parse_seeds, synthesizer_from_arguments)
from util import html, util
from util.distributed import init_distributed
from util.manifest import sha256
from util.arguments import int_in
from util.errors import UserError, run_cli


def build_parser() -> OptionParser:
    parser = OptionParser(description=__doc__)
    parser.add_argument('-h', '--help', action='help', help='show this help message and exit')
    model = parser.add_argument_group('model')
    add_model_arguments(model)
    model.add_argument('--backend', default=BACKENDS[0], choices=BACKENDS,
                       help='onnxruntime: run the ONNX files of an exported folder (--model, scripts/export.py)')
    inputs = parser.add_argument_group('inputs')
    inputs.add_argument('--labels', nargs='+', default=[], help='label maps (grey/palette PNGs of class ids, or colour '
                        'PNGs in the model\'s palette), or folders of them; any size')
    inputs.add_argument('--instances', nargs='+', default=[], help='instance maps, matched to label maps by file stem '
                        '(default: each label map is its own instance map)')
    add_input_limit_argument(inputs)
    inputs.add_argument('--seeds', default=None, help='styles from seeds, e.g. 0-3,7 (default 0); models with a VAE, '
                        'OASIS models (their noise code)')
    inputs.add_argument('--style_image', default=None,
                        help='the style of this photo (the encoder\'s mean); models with a VAE')
    inputs.add_argument('--restyle', nargs='+', default=[], metavar='CLASS',
                        help='OASIS models: only these classes (names or ids, see --list_classes) take each seed\'s '
                             'noise; the rest of the image keeps --base_seed\'s')
    inputs.add_argument('--base_seed', type=int_in(0, SEED_LIMIT - 1), default=0,
                        help='with --restyle: the noise of the other classes')
    outputs = parser.add_argument_group('outputs')
    outputs.add_argument('--out', default=None,
                         help='output folder (default results/<name>/synthesized_<which_epoch>/, '
                              'synthesized_<which_epoch>_ema/ with --use_ema)')
    outputs.add_argument('--batchSize', type=int, default=1,
                         help='styles per forward pass; above 1 (faster on a GPU) an image can differ from the one '
                              'made alone by float rounding')
    outputs.add_argument('--display_winsize', type=int, default=256, help='width of the images on index.html')
    outputs.add_argument('--list_classes', action='store_true',
                         help='print id, name and colour of the model\'s classes and exit')
    return parser


def styles(args: argparse.Namespace, synthesizer: Synthesizer) -> List[Tuple[str, torch.Tensor]]:
    """(file-name suffix, style code or None) of every image to make per label map."""
    if not synthesizer.takes_code:
        if args.seeds is not None or args.style_image:
            given = '--seeds' if args.seeds is not None else '--style_image'
            raise UserError(f'{given}: {synthesizer.checkpoint} was trained without --use_vae, so it makes one image '
                            'per label map and takes no style; drop the option')
        return [('', None)]
    if args.style_image and not synthesizer.encodes_photos:
        raise UserError(f'--style_image: {synthesizer.checkpoint} has no style encoder (its generator draws a noise '
                        'code): choose styles with --seeds')
    if args.style_image:
        if args.seeds is not None:
            raise UserError('--seeds and --style_image: choose one source of style')
        photo = read_photo(args.style_image, synthesizer.size, synthesizer.output_nc, args.max_input_pixels)
        return [(f'_{stem(args.style_image)}', synthesizer.style_from_photo(photo[None])[0])]
    seeds = parse_seeds('0' if args.seeds is None else args.seeds)
    return [(f'_seed{seed}', z) for seed, z in zip(seeds, synthesizer.styles_from_seeds(seeds))]


def restyled_channels(args: argparse.Namespace, synthesizer: Synthesizer) -> List[int]:
    """The label channels of --restyle's classes (by name, or by the id a label map file holds)."""
    labels, channels = synthesizer.labels, []
    for given in args.restyle:
        # An id is ASCII digits ('²' is a digit to str.isdigit, and int() refuses it and numbers of 4300 digits).
        channel = labels.names.index(given) if given in labels.names else \
            labels.channel_of_file_value(int(given)) if given.isascii() and given.isdigit() and len(given) < 6 else None
        if channel is None:
            raise UserError(f'--restyle {given}: the model has no such class (names and ids: --list_classes)')
        channels.append(channel)
    return channels


def list_inputs(args: argparse.Namespace) -> List[Tuple[str, str, Optional[str]]]:
    """(stem, label-map file, instance-map file or None) of every label map, checked for clashes."""
    label_files = list_image_files(args.labels, '--labels')
    stems = [stem(path) for path in label_files]
    repeated = sorted({s for s in stems if stems.count(s) > 1})
    if repeated:
        raise UserError(f'--labels: several label maps are named {repeated[0]} (their images would overwrite each '
                        'other): rename them')
    instance_files: Dict[str, str] = {}
    if args.instances:
        instance_files = {stem(path): path for path in list_image_files(args.instances, '--instances')}
        missing = [path for path in label_files if stem(path) not in instance_files]
        if missing:
            raise UserError(f'--instances: no instance map named {stem(missing[0])} for {missing[0]} '
                            f'({len(missing)} of {len(label_files)} label maps have none): give one for every label '
                            'map, or none')
    return [(stem(path), path, instance_files.get(stem(path))) for path in label_files]


def read_inputs(items: List[Tuple[str, str, Optional[str]]], args: argparse.Namespace,
                synthesizer: Synthesizer) -> List[Tuple[torch.Tensor, Optional[torch.Tensor]]]:
    """(label map, instance map or None) of `items`, all read and checked before anything is written."""
    size = synthesizer.size
    return [(read_label_map(label_path, synthesizer.labels, size, args.max_input_pixels),
             None if instance_path is None else read_instance_map(instance_path, size, args.max_input_pixels))
            for _, label_path, instance_path in items]


def file_state(path: Optional[str]) -> Optional[list]:
    """What says a file is the one a manifest saw: its path, size and modification time."""
    if path is None:
        return None
    info = os.stat(path)
    return [os.path.abspath(path), info.st_size, info.st_mtime_ns]


def job_record(args: argparse.Namespace, synthesizer: Synthesizer, items) -> dict:
    """What decides the images: the model's files, the options that change pixels, the label and instance maps."""
    return {'format': 'cc-fpse synthesis 1',
            'model': model_record(synthesizer),
            'options': {'seeds': args.seeds, 'batchSize': args.batchSize, 'amp': args.amp,
                        'restyle': args.restyle, 'base_seed': args.base_seed,
                        'style_image': sha256(args.style_image) if args.style_image else None},
            'inputs': {name: [file_state(label), file_state(instance)] for name, label, instance in items}}


def load_model(args: argparse.Namespace) -> Synthesizer:
    if args.backend == 'onnxruntime' and not args.model:
        raise UserError('--backend onnxruntime runs an exported folder: pass --model with the folder of '
                        'scripts/export.py --format onnx')
    return synthesizer_from_arguments(args, args.backend)


def list_classes(args: argparse.Namespace) -> None:
    """--list_classes: the classes of the model's spec (its networks are not built: nothing runs on a device)."""
    labels = model_of_arguments(args).spec.labels
    for channel, (name, color) in enumerate(zip(labels.names, labels.colors)):
        print(f'{labels.file_value_of_channel(channel):>4}  {name:<28} {tuple(int(c) for c in color)}')


def main(argv: Optional[List[str]] = None) -> None:
    """synthesize.py with `argv` (the command line's without); scripts/compare.py runs it once per model."""
    args = build_parser().parse_args(argv)
    if args.list_classes:
        return list_classes(args)
    synthesizer = load_model(args)
    labels = synthesizer.labels
    if not args.labels:
        raise UserError('--labels: give label-map files or folders (or --list_classes to see the classes)')
    if args.batchSize < 1:
        raise UserError(f'--batchSize {args.batchSize}: give at least 1')
    dist = init_distributed(synthesizer.device.type == 'cuda')
    items = list_inputs(args)
    restyled = restyled_channels(args, synthesizer)
    if restyled:
        synthesizer.check_restyling()
    image_styles = styles(args, synthesizer)
    if restyled and (args.style_image or args.seeds is None):
        raise UserError('--restyle: give the seeds of the classes\' new noise with --seeds')
    base = synthesizer.styles_from_seeds([args.base_seed])
    out = args.out or os.path.join('results', model_name(args),
                                   f'synthesized_{args.which_epoch}{average_suffix(args.use_ema)}')
    job = SynthesisJob(
        out, '--out', job_record(args, synthesizer, items) if dist.is_main else {}, items,
        lambda item: [os.path.join(out, 'labels', f'{item[0]}.png')] +
                     [os.path.join(out, f'{item[0]}{suffix}.png') for suffix, _ in image_styles],
        lambda item: len(image_styles),
        {'--labels': args.labels, '--instances': args.instances, '--style_image': [args.style_image],
         'the model folder': [os.path.dirname(path) for path in synthesizer.model_files]},
        'label maps', 'model, options and label maps')

    def make(item, maps) -> None:
        name, (label, instance) = item[0], maps
        util.save_image(render_label_map(label, labels), os.path.join(out, 'labels', f'{name}.png'))
        semantics = synthesizer.semantics(label, instance)
        # One label map per pass, its styles in passes of --batchSize. With one per pass (the default) an image
        # depends on its label map and style alone, byte for byte: other batch sizes round differently.
        for start in range(0, len(image_styles), args.batchSize):
            chunk = image_styles[start:start + args.batchSize]
            z = None if chunk[0][1] is None else torch.stack([code for _, code in chunk])
            if restyled:  # the seeds' noise on the restyled classes only
                z = synthesizer.region_codes(label[None].expand(len(chunk), -1, -1, -1), base.expand(len(chunk), -1), z,
                                             restyled)
            images = synthesizer.generate(semantics.expand(len(chunk), -1, -1, -1), z)
            for (suffix, _), image in zip(chunk, images):
                util.save_image(util.tensor2im(image), os.path.join(out, f'{name}{suffix}.png'))

    def write_page() -> str:
        webpage = html.HTML(out, f'{model_name(args)}, epoch {args.which_epoch}: synthesized from label maps',
                            image_subdir='')
        for name, _, _ in items:
            files = [f'{name}{suffix}.png' for suffix, _ in image_styles]
            webpage.add_header(name)
            webpage.add_images([f'labels/{name}.png'] + files,
                               ['label map'] + [f[len(name) + 1:-4] or 'image' for f in files],
                               [f'labels/{name}.png'] + files, width=args.display_winsize)
        return webpage.save()

    made, page = run_synthesis_job(job, dist, lambda mine: zip(mine, read_inputs(mine, args, synthesizer)), make,
                                   write_page)
    if dist.is_main:
        total = len(items) * len(image_styles)
        print(f'Synthesized {made} image{"" if made == 1 else "s"} ({total} in all): {page}')


if __name__ == '__main__':
    run_cli(main)
