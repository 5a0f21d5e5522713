"""Turn a trained model into a model folder that can leave this repository: config.json (its spec), G.safetensors
(+ E.safetensors) and a README.md model card; optionally upload it to the Hugging Face Hub.

python scripts/convert_checkpoint.py --name NAME [--which_epoch latest] [--use_ema] --out pretrained/NAME
python scripts/convert_checkpoint.py --preset coco --name coco_best --which_epoch 100 --out pretrained/ccfpse-coco
python scripts/convert_checkpoint.py --name NAME --out pretrained/NAME --push_to_hub owner/repo

The model card takes its scores from --metrics (default: results/<name>/test_<which_epoch>/metrics.json of
`scripts/evaluate.py all`, when there is one). The folder is written whole or not at all.
"""
import argparse
import os
from typing import Any, Dict, Optional


from models.sources import average_suffix
from options.parser import OneLineErrorParser
from options.synthesis_options import add_model_arguments, synthesizer_from_arguments
from util.errors import UserError, exception_reason, run_cli
from util.paths import check_output_apart, check_outside_code
from util.user_files import read_json


def build_parser() -> OneLineErrorParser:
    parser = OneLineErrorParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser, sources=False)
    parser.add_argument('--out', required=True, help='the model folder to write')
    parser.add_argument('--overwrite', action='store_true', help='replace --out if it exists')
    parser.add_argument('--metrics', default=None,
                        help='metrics.json of `evaluate.py all` for the model card (default: '
                             'results/<name>/test_<which_epoch>/metrics.json when it exists)')
    parser.add_argument('--push_to_hub', default=None, metavar='REPO',
                        help='upload the folder to this Hugging Face Hub repository (owner/name; created if needed, '
                             'with the token of `hf auth login`)')
    parser.add_argument('--private', action='store_true', help='with --push_to_hub: create the repository private')
    parser.set_defaults(gpu_ids='-1')
    return parser


def read_metrics(args: argparse.Namespace) -> Optional[Dict[str, Any]]:
    folder = f'test_{args.which_epoch}{average_suffix(args.use_ema)}'  # test.py's folder of that generator
    path = args.metrics or os.path.join('results', args.name, folder, 'metrics.json')
    if not os.path.isfile(path):
        if args.metrics:
            raise UserError(f'--metrics {path}: no such file')
        return None
    metrics = read_json(path, '--metrics file')
    try:
        float(metrics['miou']), float(metrics['accuracy'])
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f'--metrics {path} is not a metrics.json of `evaluate.py all` '
                        f'({type(exc).__name__}: {exc})') from None
    print(f'model card scores from {path}')
    return metrics


def push_to_hub(folder: str, repo_id: str, private: bool) -> str:
    from huggingface_hub import HfApi
    api = HfApi()
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(folder_path=folder, repo_id=repo_id, commit_message='Upload a CC-FPSE model folder')
    except Exception as exc:
        raise UserError(f'--push_to_hub {repo_id}: the upload failed ({exception_reason(exc)}); the folder '
                        f'{folder} is written: log in with `hf auth login` and upload it with '
                        f'`hf upload {repo_id} {folder}`') from None
    return f'https://huggingface.co/{repo_id}'


def main() -> None:
    args = build_parser().parse_args()
    metrics = read_metrics(args)
    synthesizer = synthesizer_from_arguments(args)
    check_outside_code(args.out, '--out')
    check_output_apart(args.out, '--out', {'the model folder': [os.path.dirname(f) for f in synthesizer.model_files],
                                           '--metrics': [args.metrics]})
    source = f'{os.path.join(args.checkpoints_dir, args.name)} epoch {args.which_epoch}' + \
        (f' (--preset {args.preset})' if args.preset else '')
    synthesizer.save_pretrained(args.out, args.overwrite, {'converted_from': source,
                                                           'generator_weights': 'G_ema' if args.use_ema else 'G'},
                                metrics, args.push_to_hub or args.out)
    files = ['config.json'] + [f'{label}.safetensors' for label in ('G', 'E') if label in synthesizer.spec.networks]
    print(f'wrote {args.out}: {", ".join(files)}, README.md')
    if args.push_to_hub:
        print(f'uploaded to {push_to_hub(args.out, args.push_to_hub, args.private)}')


if __name__ == '__main__':
    run_cli(main)
