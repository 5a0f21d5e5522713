"""Evaluation: the paper's protocol on a results folder, FID (pytorch-fid), and scores of label maps.

python scripts/evaluate.py all --dataset_mode coco --dataroot datasets/coco_stuff --results results/coco_best/test_100 \
    [--segmenter_weights PATH] [--inception_weights PATH] [--gpu_ids -1]
python scripts/evaluate.py all --dataset_mode coco --dataroot datasets/coco_stuff --model SOURCE   # test.py first
python scripts/evaluate.py fid --real_dir A --fake_dir B [--inception_weights PATH] [--batch_size N] [--stats_cache DIR]
python scripts/evaluate.py seg --pred_dir P --label_dir L --num_classes K [--ignore_index 255]
`all` ends with the lines `fid <v>`, `miou <v>`, `accuracy <v>` (percent) and writes metrics.json and
evaluation.html into the results folder; `fid` ends with `fid <value>`; `seg` says how many maps it scored and ends
with `miou <value>` and `pixel_accuracy <value>` (percent, as `all`); it refuses a partial set of predictions unless
--partial is given.
`all` and `fid` also run as `torchrun --nproc_per_node=N scripts/evaluate.py ...`: batch k of the segmenter and of
Inception goes to process k mod N, the confusion matrices are summed and the features gathered in order, so the
scores equal one process's; rank 0 prints and writes.
"""
import argparse
import json
import os
from typing import Callable, Optional


from options.parser import OneLineErrorParser
from options.shared_arguments import SAMPLING_OPTIONS, add_sampling_arguments
from util.arguments import int_in
from util.errors import run_cli


def build_parser() -> OneLineErrorParser:
    parser = OneLineErrorParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest='command', required=True)
    add_all_command(commands)
    fid = commands.add_parser('fid', help='Frechet Inception Distance between two image folders')
    fid.add_argument('--real_dir', required=True, help='real images (or an .npz of their statistics)')
    fid.add_argument('--fake_dir', required=True, help='generated images, same resolution as the real ones')
    fid.add_argument('--inception_weights', default='',
                     help="pytorch-fid's pt_inception-2015-12-05 weights file; default: download")
    fid.add_argument('--batch_size', type=int_in(1), default=50)
    fid.add_argument('--stats_cache', default=os.path.join('checkpoints', 'fid_stats'),
                     help='folder for the real images\' statistics, reused until the folder changes ("" to disable)')
    fid.add_argument('--device', default='cuda' if _cuda() else 'cpu')
    add_dims_argument(fid)
    seg = commands.add_parser('seg', help='mIoU and pixel accuracy of predicted label maps: mIoU is the mean IoU over '
                              'the classes in the ground truth or the predictions (fyu/drn\'s definition), accuracy '
                              'is over the pixels not marked --ignore_index')
    seg.add_argument('--pred_dir', required=True, help='predicted label maps (.png ids), named as the ground truth')
    seg.add_argument('--label_dir', required=True, help='ground-truth label maps (.png ids)')
    seg.add_argument('--num_classes', type=int_in(1, 65536), required=True)
    seg.add_argument('--ignore_index', type=int, default=255)
    seg.add_argument('--partial', action='store_true',
                     help='score the predictions there are when --label_dir has more ground-truth maps')
    return parser


def main() -> None:
    args = build_parser().parse_args()

    if args.command == 'all':
        evaluate_all(args)
    elif args.command == 'fid':
        from util.atomic import check_writable_folder
        from util.distributed import init_distributed
        from util.fid import fid_between
        from util.paths import check_output_apart
        if args.stats_cache:
            # A --real_dir .npz is read, not cached: it may lie in the cache (a cached file given back).
            check_output_apart(args.stats_cache, '--stats_cache',
                               {'--real_dir': [args.real_dir] * os.path.isdir(args.real_dir),
                                                                   '--fake_dir': [args.fake_dir]})
            check_writable_folder(args.stats_cache, '--stats_cache')
        under_torchrun = args.device == 'cuda' and 'LOCAL_RANK' in os.environ
        device = f'cuda:{os.environ["LOCAL_RANK"]}' if under_torchrun else args.device
        dist = init_distributed(device.startswith('cuda'))
        value = fid_between(args.real_dir, args.fake_dir, args.inception_weights, args.batch_size, device,
                            args.stats_cache or None, args.dims, dist)
        if dist.is_main:
            print(f'fid {value:.6f}')
    else:
        from util.segmentation_metrics import evaluate_folders
        result = evaluate_folders(args.pred_dir, args.label_dir, args.num_classes, args.ignore_index, args.partial)
        print(f'scored {result["scored"]} label maps of the {result["ground_truth"]} in --label_dir')
        for cls, iou in enumerate(result['iou']):
            print(f'iou class {cls} {100 * iou:.4f}')
        print(f'miou {100 * result["miou"]:.6f}')
        print(f'pixel_accuracy {100 * result["pixel_accuracy"]:.6f}')


def add_all_command(commands) -> None:
    from models.segmenters.protocol import PROTOCOLS
    run = commands.add_parser('all', help="the paper's FID, mIoU and pixel accuracy of a results folder of test.py")
    run.add_argument('--dataset_mode', required=True, choices=sorted(PROTOCOLS))
    run.add_argument('--dataroot', default='', help='the dataset: its validation label maps are the ground truth')
    run.add_argument('--results', default=None, help='the folder test.py wrote (results/<name>/test_<epoch>)')
    run.add_argument('--model', default=None, metavar='SOURCE',
                     help='synthesize the validation split with this model first (as test.py --model: a model '
                          'folder, a run folder or a Hub id), into --results_dir, and evaluate that')
    run.add_argument('--which_epoch', default='latest', help='with --model of a run folder: its epoch')
    run.add_argument('--use_ema', action='store_true', help='with --model of a run folder: the averaged generator')
    run.add_argument('--results_dir', default='./results/', help='with --model: where test.py\'s folder goes')
    add_sampling_arguments(run)  # with --model of a diffusion model: its sampler, as test.py takes it
    run.add_argument('--segmenter_weights', default=None,
                     help='the published segmenter file (UPerNet: the folder with encoder_epoch_50.pth and '
                          'decoder_epoch_50.pth); default: downloaded once into the torch hub cache')
    run.add_argument('--inception_weights', default='',
                     help="pytorch-fid's pt_inception-2015-12-05 weights; default: download")
    run.add_argument('--gpu_ids', default='0' if _cuda() else '-1', help='one GPU id, or -1 for the CPU')
    run.add_argument('--batch_size', type=int_in(1), default=8)
    run.add_argument('--stats_cache', default=os.path.join('checkpoints', 'fid_stats'),
                     help='folder for the real images\' FID statistics ("" to disable)')
    add_dims_argument(run)
    run.add_argument('--page_images', type=int_in(-1), default=100, help='images shown on evaluation.html (-1: all)')
    run.add_argument('--cityscapes_full_resolution', action='store_true',
                     help='upsample the images (bicubic) to the label maps\' 2048x1024 before DRN and score at that '
                          'size (OASIS #18); default: the images\' size, labels resized with nearest')
    run.add_argument('--drn_multi_scale', action='store_true', help="fyu/drn's multi-scale test (--ms)")
    run.add_argument('--ade20k_test_scales', action='store_true',
                     help="CSAIL's test scales (short side 300..600, probabilities averaged); default: single scale")


def add_dims_argument(parser: argparse.ArgumentParser) -> None:
    from util.fid import DIMS, PAPER_DIMS
    parser.add_argument('--dims', type=int, default=PAPER_DIMS, choices=DIMS,
                        help="pytorch-fid's --dims: Inception features compared; 2048 (pool3) is what papers report, "
                             "the smaller sizes suit fewer than 2048 images and give values not comparable with it")


def test_options(args: argparse.Namespace):
    """test.py's options for the validation split of --dataroot (with --model, the model's), parsed once for both
    synthesizing it and pairing its label maps with the images."""
    from options.test_options import TestOptions
    options = TestOptions()
    sampling = [part for name in SAMPLING_OPTIONS if getattr(args, name) is not None
                for part in (f'--{name}', str(getattr(args, name)))]
    model = ['--model', args.model, '--which_epoch', args.which_epoch, '--results_dir', args.results_dir,
             '--batchSize', str(args.batch_size), '--gpu_ids', args.gpu_ids, *(['--use_ema'] if args.use_ema else []),
             *sampling] if args.model is not None else ['--no_instance', '--gpu_ids', '-1']
    opt = options.parse(['--dataset_mode', args.dataset_mode, '--dataroot', args.dataroot, '--phase', 'test', *model],
                        quiet=True)
    return options, opt


def validation_labels(opt: argparse.Namespace) -> Callable[[str], Optional[str]]:
    """Synthesized image stem -> the validation label map it was made from, as test.py's loader pairs them."""
    import data
    from options.data_settings import data_settings
    # read the folder as it is, write nothing into it
    dataset = data.create_dataset(data_settings(opt, cache_filelist_read=False, cache_filelist_write=False))
    by_key = {dataset.pair_key(path): path for path in dataset.label_paths}
    return lambda stem: by_key.get(dataset.pair_key(stem + '.png'))


def evaluate_all(args: argparse.Namespace) -> None:
    from models.evaluation import Evaluation, Variants, pair_samples, synthesized_images
    from models.segmenters.protocol import dataset_protocol
    from util.atomic import atomic_write_texts, check_writable_folder
    from util.device import select_device
    from util.distributed import init_distributed
    from util.errors import UserError
    from util.fid import PAPER_DIMS, fid_between
    from util.paths import check_output_apart
    if not args.dataroot:
        raise UserError('--dataroot is required: the dataset folder whose validation label maps are the ground truth')
    if not os.path.isdir(args.dataroot):
        raise UserError(f'--dataroot {args.dataroot} does not exist')
    if (args.model is None) == (args.results is None):
        raise UserError('give --results (a folder test.py wrote) or --model SOURCE (synthesize it now), one of them')
    options, opt = test_options(args)
    if args.model is not None:  # test.py --model SOURCE on the validation split
        from models.synthesis_job import synthesize_split
        args.results = synthesize_split(options.split_job(opt))
    # Where the results go, before the long work: the results folder and the FID statistics cache.
    if not os.path.isdir(args.results):
        raise UserError(f'--results {args.results} does not exist: pass the folder test.py wrote')
    check_writable_folder(args.results, '--results')
    if args.stats_cache:
        check_output_apart(args.stats_cache, '--stats_cache', {'--dataroot': [args.dataroot]})
        check_writable_folder(args.stats_cache, '--stats_cache')
    protocol = dataset_protocol(args.dataset_mode)
    samples = pair_samples(synthesized_images(args.results), validation_labels(opt),
                           args.dataroot)
    device = select_device(args.gpu_ids, announce=True)
    dist = init_distributed(device.type == 'cuda')
    variants = Variants(args.cityscapes_full_resolution, args.drn_multi_scale, args.ade20k_test_scales)
    evaluation = Evaluation(args.results, protocol, samples, variants, args.segmenter_weights, str(device),
                            args.batch_size, dist)
    evaluation.check_inputs()
    # Segmentation first: a wrong segmenter file stops the run before the long FID pass.
    scores = evaluation.run()
    images = os.path.join(args.results, 'images')
    fid = fid_between(os.path.join(images, 'real_image'), os.path.join(images, 'synthesized_image'),
                      args.inception_weights, args.batch_size, str(device), args.stats_cache or None, args.dims, dist)
    if not dist.is_main:
        return  # rank 0 writes the page and metrics.json
    metrics = {'fid': fid, **scores}
    paper = args.dims == PAPER_DIMS
    features = f'{PAPER_DIMS}-d pool3 features' if paper else f'{args.dims}-d features (not the paper\'s {PAPER_DIMS})'
    metrics['protocol']['fid'] = (f'pytorch-fid, {features}, synthesized_image against real_image of the results '
                                  'folder at their resolution')
    page = evaluation.page(metrics, args.page_images)
    atomic_write_texts({os.path.join(args.results, 'evaluation.html'): page,
                        os.path.join(args.results, 'metrics.json'): json.dumps(metrics, indent=1)})
    print(f'{"":10s} {"FID":>8s} {"mIoU":>8s} {"accuracy":>9s}')
    for name, row in metrics['paper'].items():
        print(f'{name + " (paper)":10s} {row["fid"]:8.2f} {row["miou"]:8.2f} {row["accuracy"]:9.2f}')
    print(f'{"this run":10s} {fid:8.2f} {metrics["miou"]:8.2f} {metrics["accuracy"]:9.2f}')
    if not paper:
        print(f'(FID of {args.dims}-d features: not comparable with the paper\'s, which uses {PAPER_DIMS})')
    print(f'(metrics.json and evaluation.html in {args.results})')
    print(f'fid {fid:.6f}')
    print(f'miou {metrics["miou"]:.4f}')
    print(f'accuracy {metrics["accuracy"]:.4f}')


def _cuda() -> bool:
    import torch
    return torch.cuda.is_available()


if __name__ == '__main__':
    run_cli(main)
