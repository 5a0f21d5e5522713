"""COCO-Stuff instance maps, pixel for pixel as SPADE's datasets/coco_generate_instance_map.py writes them.

python scripts/prepare_coco_stuff.py --annotation_file annotations/instances_train2017.json \\
    --input_label_dir datasets/coco_stuff/train_label --output_instance_dir datasets/coco_stuff/train_inst [--workers 8]

Maps already written are skipped (rerun to resume) unless --overwrite; every map is written atomically. A label map
that the annotations list but that is missing or unreadable is reported, the others are written, and the exit
status is 1.
"""
import math
import multiprocessing
import os
import sys
from typing import List, Optional, Tuple

import numpy as np
from tqdm import tqdm


from data.coco_instances import instance_map
from data.errors import DatasetError
from data.image_folder import open_image
from options.base_options import MAX_WORKERS
from options.parser import OptionParser
from util.arguments import int_in
from util import util
from util.atomic import check_writable_folder
from util.user_files import MAX_ANNOTATION_BYTES, read_json
from util.paths import check_output_apart
from util.errors import UserError, run_cli
from util.threads import usable_cpus

Task = Tuple[str, str, list]  # label map path, instance map path, each annotation's segmentation in order


def build_parser() -> OptionParser:
    parser = OptionParser(description=__doc__)
    parser.add_argument('-h', '--help', action='help', help='show this help message and exit')
    parser.add_argument('--annotation_file', default='./annotations/instances_train2017.json',
                        help='COCO instances file (instances_train2017.json or instances_val2017.json)')
    parser.add_argument('--input_label_dir', default='./train_label/', help='COCO-Stuff label maps (stuffthingmaps)')
    parser.add_argument('--output_instance_dir', default='./train_inst/', help='where the instance maps go')
    parser.add_argument('--workers', type=int_in(1, MAX_WORKERS), default=usable_cpus(),
                     help='parallel processes (default: the CPUs this process may use)')
    parser.add_argument('--overwrite', action='store_true', help='write maps that exist already again')
    return parser


def is_plain_file_name(name: str) -> bool:
    """A name that stays inside the folder it is joined to: no folder part, no '..', not absolute."""
    return bool(name) and os.path.basename(name) == name and name not in ('.', '..') and '\\' not in name


def polygons_problem(segmentation) -> Optional[str]:
    """Why an annotation's polygons cannot be drawn (None when they can, or when it is RLE, which is skipped)."""
    if not isinstance(segmentation, list):
        return None
    for polygon in segmentation:
        if not isinstance(polygon, list) or len(polygon) % 2:
            return 'a polygon that is not a list of x, y pairs'
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in polygon):
            return 'a polygon coordinate that is not a finite number'
    return None


def load_tasks(annotation_file: str, label_dir: str, output_dir: str) -> List[Task]:
    """One task per image of the annotation file, in its order, with that image's annotations in theirs; every
    field it reads checked first (util.user_files reads the file)."""
    if not os.path.lexists(annotation_file):
        raise UserError(f'--annotation_file {annotation_file}: no such file (instances_train2017.json or '
                        'instances_val2017.json from COCO\'s annotations_trainval2017.zip)')
    dataset = read_json(annotation_file, '--annotation_file', MAX_ANNOTATION_BYTES)
    images, annotations = dataset.get('images'), dataset.get('annotations', [])
    if not isinstance(images, list) or not isinstance(annotations, list):
        raise UserError(f'--annotation_file {annotation_file}: not a COCO annotation file (it needs an "images" list '
                        'and an "annotations" list)')
    for image in images:
        if not isinstance(image, dict) or type(image.get('id')) is not int or \
                not isinstance(image.get('file_name'), str) or not is_plain_file_name(image['file_name']):
            shown = image.get('file_name') if isinstance(image, dict) else image
            raise UserError(f'--annotation_file {annotation_file}: image '
                            f'{image.get("id") if isinstance(image, dict) else "?"} '
                            f'has file_name {shown!r}, which is not a plain file name (COCO\'s are like '
                            '000000000139.jpg); nothing was written: fix the annotation file')
    for annotation in annotations:
        shaped = isinstance(annotation, dict) and 'image_id' in annotation and 'segmentation' in annotation
        problem = polygons_problem(annotation['segmentation']) if shaped else \
            'not an object with image_id and segmentation'
        if problem:
            where = annotation.get('id', '?') if isinstance(annotation, dict) else '?'
            raise UserError(f'--annotation_file {annotation_file}: annotation {where} has {problem}; nothing was '
                            'written: fix the annotation file')
    from pycocotools.coco import COCO
    coco = COCO()
    coco.dataset = dataset
    with open(os.devnull, 'w') as quiet:  # pycocotools prints its progress
        stdout, sys.stdout = sys.stdout, quiet
        try:
            coco.createIndex()
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f'--annotation_file {annotation_file}: not a COCO annotation file '
                            f'({type(exc).__name__}: {str(exc)[:120]})') from None
        finally:
            sys.stdout = stdout
    tasks = []
    for image_id in coco.getImgIds():  # every image, in the file's order (as SPADE's category filter does)
        # As SPADE: every "jpg" in the name becomes "png".
        filename = coco.loadImgs(image_id)[0]['file_name'].replace('jpg', 'png')
        segmentations = [ann['segmentation'] for ann in coco.loadAnns(coco.getAnnIds(imgIds=image_id, iscrowd=None))]
        tasks.append((os.path.join(label_dir, filename), os.path.join(output_dir, filename), segmentations))
    return tasks


def write_instance_map(task: Task) -> Optional[str]:
    """Write one map; returns a line about the label map when it cannot be used, else None."""
    label_path, output_path, segmentations = task
    if not os.path.isfile(label_path):
        return f'{label_path}: missing (listed in the annotation file)'
    try:
        with open_image(label_path, 'label map') as img:
            if img.mode != 'L':
                return f'{label_path}: a {img.mode} image, not an 8-bit grey label map'
            label = np.array(img)
    except DatasetError as exc:
        return str(exc)
    try:
        instances = instance_map(label, segmentations)
    except ValueError as exc:
        return f'{label_path}: an annotation of this image has a malformed polygon ({exc})'
    util.save_image(instances, output_path)
    return None


def main() -> None:
    args = build_parser().parse_args()
    if not os.path.isdir(args.input_label_dir):
        raise UserError(f'--input_label_dir {args.input_label_dir}: no such folder (stuffthingmaps_trainval2017.zip '
                        'unpacked: train2017/ or val2017/)')
    check_output_apart(args.output_instance_dir, '--output_instance_dir',
                       {'--input_label_dir': [args.input_label_dir], '--annotation_file': [args.annotation_file]})
    tasks = load_tasks(args.annotation_file, args.input_label_dir, args.output_instance_dir)
    output = os.path.abspath(args.output_instance_dir)
    check_writable_folder(output, '--output_instance_dir')
    todo = tasks if args.overwrite else [task for task in tasks if not os.path.isfile(task[1])]
    if len(todo) < len(tasks):
        print(f'{len(tasks) - len(todo)} of {len(tasks)} instance maps exist already: skipped (--overwrite to redo '
              f'them)')
    problems = []
    with multiprocessing.get_context('fork').Pool(args.workers) if args.workers > 1 else _InProcess() as pool:
        for problem in tqdm(pool.imap(write_instance_map, todo, chunksize=8), total=len(todo), desc='instance maps',
                            unit='map'):
            if problem is not None:
                problems.append(problem)
    written = len(todo) - len(problems)
    print(f'{written} instance maps written to {args.output_instance_dir}')
    if problems:
        for problem in problems:
            print(f'error: {problem}', file=sys.stderr)
        raise UserError(f'{len(problems)} label maps could not be used (listed above): restore them and run again '
                        '(maps already written are kept)')


class _InProcess:
    """A one-worker stand-in for multiprocessing.Pool (no process start-up, easier to debug)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @staticmethod
    def imap(function, items, chunksize: int = 1):
        return map(function, items)


if __name__ == '__main__':
    run_cli(main)
