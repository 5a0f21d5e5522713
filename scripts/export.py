"""Export a trained generator (and its style encoder) for onnxruntime (ONNX).

python scripts/export.py --model SOURCE [--format onnx] [--out exported/NAME-onnx]
python scripts/export.py --name NAME [--which_epoch latest] [--use_ema]
python scripts/synthesize.py --model exported/NAME-onnx --backend onnxruntime --labels maps/

Writes config.json (the model spec) and generator.onnx (+ encoder.onnx), with a dynamic batch size. Before the
folder is put in place, the exported graphs are run on a label map of the model's classes and compared with
PyTorch: a difference above models.exported.TOLERANCE stops with nothing written.
"""
import argparse
import os

import torch


from models.exported import TOLERANCE, GeneratorGraph, OnnxRuntimeNetwork, example_inputs, export
from models.sources import CONFIG_FILE, EXPORTED_FILES
from options.parser import OneLineErrorParser
from options.synthesis_options import add_model_arguments, model_name, synthesizer_from_arguments
from util.atomic import atomic_folder, atomic_write_text
from util.errors import UserError, run_cli
from util.paths import check_output_apart, check_outside_code


def build_parser() -> OneLineErrorParser:
    parser = OneLineErrorParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser)
    parser.add_argument('--format', default='onnx', choices=['onnx'],
                        help='onnx (the one format: torch.export programs cannot be loaded without unpickling)')
    parser.add_argument('--out', default=None, help='the folder to write (default exported/<model>-<format>)')
    parser.add_argument('--overwrite', action='store_true', help='replace --out if it exists')
    parser.set_defaults(gpu_ids='-1')
    return parser


def largest_difference(synthesizer, folder: str) -> float:
    """max |exported - PyTorch| over the outputs of every exported network, on a batch of 3 (not the traced 2)."""
    inputs = example_inputs(synthesizer, batch=3)
    eager = {'G': GeneratorGraph(synthesizer.netG, synthesizer.takes_code).eval(), 'E': synthesizer.netE}
    worst = 0.0
    for label, tensors in inputs.items():
        with torch.no_grad():
            expected = eager[label](*tensors)
            got = OnnxRuntimeNetwork(os.path.join(folder, EXPORTED_FILES[label]), torch.device('cpu')).run(*tensors)
        expected = expected if isinstance(expected, (tuple, list)) else [expected]
        worst = max([worst] + [float((a - b).abs().max()) for a, b in zip(expected, got)])
    return worst


def main() -> None:
    args = build_parser().parse_args()
    synthesizer = synthesizer_from_arguments(args)
    if synthesizer.device.type != 'cpu' or synthesizer.amp != 'off':
        raise UserError('export runs on the CPU in float32: pass --gpu_ids -1 and no --amp')
    if synthesizer.uses_sampler:
        raise UserError(f'{synthesizer.checkpoint}: a --model {synthesizer.spec.method} model makes images with a '
                        'sampler loop, which is not exported (its network step is not yet either); synthesize it '
                        'with scripts/synthesize.py')
    out = args.out or os.path.join('exported', f'{model_name(args)}-{args.format}')
    check_outside_code(out, '--out')
    check_output_apart(out, '--out', {'the model folder': [os.path.dirname(f) for f in synthesizer.model_files]})
    source = args.model or f'{os.path.join(args.checkpoints_dir, args.name)} epoch {args.which_epoch}'
    spec = synthesizer.spec.with_provenance(converted_from=source, generator_weights='G_ema' if args.use_ema else 'G')
    with atomic_folder(out, args.overwrite) as staging:
        atomic_write_text(os.path.join(staging, CONFIG_FILE), spec.to_text())
        files = export(synthesizer, staging)
        difference = largest_difference(synthesizer, staging)
        if difference > TOLERANCE:
            raise UserError(f'the exported model differs from PyTorch by {difference:.2e} (more than {TOLERANCE}): '
                            'nothing written; please report it with the model\'s config.json')
    print(f'largest difference to PyTorch: {difference:.2e}')
    print(f'wrote {out}: config.json, {", ".join(os.path.basename(f) for f in files)}')


if __name__ == '__main__':
    run_cli(main)
