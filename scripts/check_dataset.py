"""Check a dataset before training: read every item as the loader would and report every problem at once.

python scripts/check_dataset.py --dataset_mode coco --dataroot datasets/coco_stuff [--phase train] [training options]
                                [--workers N]
Prints one table (items, label ids against --label_nc and don't-care, photo sizes against --load_size/--crop_size,
and how many images hold each class), then every broken or unpaired file. Exit status 0 when training would run,
1 otherwise.
"""
import functools
import multiprocessing
import sys

from tqdm import tqdm


from data import find_dataset_using_name
from data.dataset_check import DatasetReport, check_item, list_dataset
from options.base_options import MAX_WORKERS
from options.data_settings import data_settings
from options.parser import OptionParser
from options.train_options import TrainOptions
from util.arguments import int_in
from util.errors import run_cli
from util.threads import usable_cpus


def main() -> None:
    own = OptionParser(description=__doc__)
    own.add_argument('--workers', type=int_in(1, MAX_WORKERS), default=usable_cpus(),
                     help='parallel processes (default: the CPUs this process may use)')
    args, rest = own.parse_known_args()
    if {'-h', '--help'} & set(rest):  # this script's own option first, then the training options' help
        print(own.format_help())
    settings = data_settings(TrainOptions().parse(rest, quiet=True))
    items, unpaired = list_dataset(settings)
    check = functools.partial(check_item, photo_size_matches_label=find_dataset_using_name(
        settings.dataset_mode).photo_size_matches_label)
    with multiprocessing.get_context('fork').Pool(args.workers) as pool:
        item_reports = list(tqdm(pool.imap(check, items, chunksize=16), total=len(items), desc='checking',
                                 unit='item'))
    report = DatasetReport(items, unpaired, item_reports, settings)
    width = max(len(name) for name, _ in report.summary())
    for name, value in report.summary():
        print(f'{name:<{width}}  {value}')
    print('\nimages per class:')
    for value, name, count in report.class_counts():
        print(f'{value:>5}  {name:<30} {count}')
    if report.problems:
        print(f'\n{len(report.problems)} problems:')
        for line in report.problems:
            print(f'  {line}')
        sys.exit(1)


if __name__ == '__main__':
    run_cli(main)
