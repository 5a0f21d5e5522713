"""Evaluation: FID (pytorch-fid) and segmentation scores.

python scripts/evaluate.py fid --real_dir A --fake_dir B [--inception_weights PATH] [--batch_size N] [--stats_cache DIR]
python scripts/evaluate.py seg --pred_dir P --label_dir L --num_classes K [--ignore_index 255]
The last line of `fid` is `fid <value>`; `seg` ends with `miou <value>` and `pixel_accuracy <value>`.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from util.errors import run_cli  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest='command', required=True)
    fid = commands.add_parser('fid', help='Frechet Inception Distance between two image folders')
    fid.add_argument('--real_dir', required=True, help='real images (or an .npz of their statistics)')
    fid.add_argument('--fake_dir', required=True, help='generated images, same resolution as the real ones')
    fid.add_argument('--inception_weights', default='', help="pytorch-fid's pt_inception-2015-12-05 weights file; default: download")
    fid.add_argument('--batch_size', type=int, default=50)
    fid.add_argument('--stats_cache', default=os.path.join('checkpoints', 'fid_stats'),
                     help='folder for the real images\' statistics, reused until the folder changes ("" to disable)')
    fid.add_argument('--device', default='cuda' if _cuda() else 'cpu')
    seg = commands.add_parser('seg', help='mIoU and pixel accuracy of predicted label maps')
    seg.add_argument('--pred_dir', required=True, help='predicted label maps (.png ids), named as the ground truth')
    seg.add_argument('--label_dir', required=True, help='ground-truth label maps (.png ids)')
    seg.add_argument('--num_classes', type=int, required=True)
    seg.add_argument('--ignore_index', type=int, default=255)
    args = parser.parse_args()

    if args.command == 'fid':
        from util.fid import fid_between
        value = fid_between(args.real_dir, args.fake_dir, args.inception_weights, args.batch_size, args.device,
                            args.stats_cache or None)
        print(f'fid {value:.6f}')
    else:
        from util.segmentation_metrics import evaluate_folders
        result = evaluate_folders(args.pred_dir, args.label_dir, args.num_classes, args.ignore_index)
        for cls, iou in enumerate(result['iou']):
            print(f'iou class {cls} {iou:.4f}')
        print(f'miou {result["miou"]:.6f}')
        print(f'pixel_accuracy {result["pixel_accuracy"]:.6f}')


def _cuda() -> bool:
    import torch
    return torch.cuda.is_available()


if __name__ == '__main__':
    run_cli(main)
