"""COCO-Stuff instance maps, pixel for pixel as SPADE's datasets/coco_generate_instance_map.py writes them.

python scripts/prepare_coco_stuff.py --annotation_file annotations/instances_train2017.json \\
    --input_label_dir datasets/coco_stuff/train_label --output_instance_dir datasets/coco_stuff/train_inst [--workers 8]

Maps already written are skipped (rerun to resume) unless --overwrite; every map is written atomically. A label map
that the annotations list but that is missing or unreadable is reported, the others are written, and the exit
status is 1.
"""
import multiprocessing
import os
import sys
from typing import List, Optional, Tuple

import numpy as np
from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from data.coco_instances import instance_map  # noqa: E402
from data.errors import DatasetError  # noqa: E402
from data.image_folder import open_image  # noqa: E402
from options.parser import OptionParser  # noqa: E402
from util import util  # noqa: E402
from util.atomic import check_writable_folder  # noqa: E402
from util.paths import check_output_apart  # noqa: E402
from util.errors import UserError, run_cli  # noqa: E402

Task = Tuple[str, str, list]  # label map path, instance map path, each annotation's segmentation in order


def build_parser() -> OptionParser:
    parser = OptionParser(description=__doc__)
    parser.add_argument('-h', '--help', action='help', help='show this help message and exit')
    parser.add_argument('--annotation_file', default='./annotations/instances_train2017.json',
                        help='COCO instances file (instances_train2017.json or instances_val2017.json)')
    parser.add_argument('--input_label_dir', default='./train_label/', help='COCO-Stuff label maps (stuffthingmaps)')
    parser.add_argument('--output_instance_dir', default='./train_inst/', help='where the instance maps go')
    parser.add_argument('--workers', type=int, default=max(1, os.cpu_count() or 1), help='parallel processes')
    parser.add_argument('--overwrite', action='store_true', help='write maps that exist already again')
    return parser


def is_plain_file_name(name: str) -> bool:
    """A name that stays inside the folder it is joined to: no folder part, no '..', not absolute."""
    return bool(name) and os.path.basename(name) == name and name not in ('.', '..') and '\\' not in name


def load_tasks(annotation_file: str, label_dir: str, output_dir: str) -> List[Task]:
    """One task per image of the annotation file, in its order, with that image's annotations in theirs."""
    if not os.path.isfile(annotation_file):
        raise UserError(f'--annotation_file {annotation_file}: no such file (instances_train2017.json or '
                        'instances_val2017.json from COCO\'s annotations_trainval2017.zip)')
    from pycocotools.coco import COCO
    try:
        with open(os.devnull, 'w') as quiet:  # pycocotools prints its progress
            stdout, sys.stdout = sys.stdout, quiet
            try:
                coco = COCO(annotation_file)
            finally:
                sys.stdout = stdout
    except (ValueError, AssertionError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise UserError(f'--annotation_file {annotation_file}: not a COCO annotation file '
                        f'({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ""})') from None
    if not isinstance(coco.dataset.get('images'), list):
        raise UserError(f'--annotation_file {annotation_file}: not a COCO annotation file (it has no "images" list)')
    tasks = []
    for image_id in coco.getImgIds():  # every image, in the file's order (as SPADE's category filter does)
        # As SPADE: every "jpg" in the name becomes "png".
        filename = coco.loadImgs(image_id)[0]['file_name'].replace('jpg', 'png')
        if not isinstance(filename, str) or not is_plain_file_name(filename):
            raise UserError(f'--annotation_file {annotation_file}: image {image_id} has file_name {filename!r}, which '
                            'is not a plain file name (COCO\'s are like 000000000139.jpg); nothing was written: fix '
                            'the annotation file')
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
    if args.workers < 1:
        raise UserError(f'--workers {args.workers}: give at least 1')
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
        print(f'{len(tasks) - len(todo)} of {len(tasks)} instance maps exist already: skipped (--overwrite to redo them)')
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
