"""Time and memory of a training step and of inference, for the reference formulation and ours, side by side.

python scripts/benchmark.py [--method NAME] [--netG spade] [--dataset_mode coco] [--crop_size 256]
                            [--batchSize 1] [--ngf 64] [--ndf 64]
                            [--no_vae] [--no_vgg] [--amps off,bf16] [--modes train,inference]
                            [--variants reference,ours] [--classes_per_image 12 | --labels DIR]
                            [--repeats 3] [--warmup 1] [--sampler ddim --steps 50] [train.py's model options]
Each configuration runs in its own process, so peak memory (RSS on CPU, max allocated on GPU) is its own; on the
CPU the peak is also given above the RSS of the loaded libraries (torch alone holds ~0.6 GB), which is what the
model can change. Variants: 'reference' is the released formulation (unfolded depthwise convolution, one
convolution per predictor, the C library's allocator); 'ours' is the default options; 'ours_recompute' adds
--checkpoint_predictors; 'ours_channels_last' and 'ours_contiguous' fix --memory_format (what decides the default
of a device); 'ours_compile' and 'ours_onnxruntime' (inference only) run ours through torch.compile and through
onnxruntime on its ONNX export (scripts/export.py). Ratios are to the first variant in the first precision of
--amps. The label maps hold --classes_per_image classes each, in 16x16 blocks (what the fused predictors gain
depends on it; use the number of classes of the data set for the worst case), or are the first --batchSize maps of
a folder of the dataset's label maps (--labels DIR; their class boundaries serve as instance edges). Medians over
--repeats runs after --warmup runs. For training, 'act MiB' is the activation memory of one G step: the bytes
autograd keeps for backward (distinct storages, parameters left out; util/memory.py), which is the same on CPU and
GPU and does not depend on the allocator. For inference, 'GFLOP' is one image's floating-point operations in G (and
E) as torch.utils.flop_counter counts them (two per multiply-add). --method NAME times that method's training step
and image (train.py --model NAME: pix2pix, oasis, ...); --netG spade SPADE's generator. A method that samples (sdm)
also has '--modes network': one evaluation of its network, and from it the time an image of each of its samplers
(evaluations x that time; 'inference' with --sampler/--steps times a whole image).
"""
import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from models import method_registry
from options.shared_arguments import add_sampling_arguments, sampling_of

# The released code's formulation, ours (the defaults), and ours with one choice fixed.
VARIANT_OPTIONS = {'reference': ['--depthconv_impl', 'unfold', '--predictor_impl', 'reference', '--cpu_allocator',
                                 'system'],
                   'ours': [],
                   'ours_recompute': ['--checkpoint_predictors'],
                   'ours_channels_last': ['--memory_format', 'channels_last'],
                   'ours_contiguous': ['--memory_format', 'contiguous'],
                   'ours_compile': [],
                   'ours_onnxruntime': [],
                   'ours_use_checkpoint': ['--use_checkpoint']}
# The variants that choose one generator's implementation; the others apply to every generator.
VARIANT_GENERATORS = {'reference': 'condconv', 'ours_recompute': 'condconv', 'ours_channels_last': 'condconv',
                      'ours_contiguous': 'condconv', 'ours_use_checkpoint': 'sdm'}
# Inference only: ours run by another backend than eager PyTorch (torch.compile of G; the exported ONNX files of
# scripts/export.py in onnxruntime, float32). Their first call (compilation, session start) is a warm-up run.
BACKENDS = {'ours_compile': 'compile', 'ours_onnxruntime': 'onnxruntime'}


def model_args(args: argparse.Namespace) -> list:
    """Options for a model of the chosen set-up with random weights (VGG too, so nothing is downloaded)."""
    options = ['--model', args.method, *(['--netG', args.netG] if args.netG else []), *args.model_options,
               '--dataset_mode', args.dataset_mode, '--crop_size', str(args.crop_size),
               '--batchSize', str(args.batchSize), '--ngf', str(args.ngf), '--ndf', str(args.ndf), '--gpu_ids',
               args.gpu_ids, '--name', 'benchmark', '--checkpoints_dir', args.workdir]
    if not args.no_vae and method_registry.method(args.method).style_encoder:
        options.append('--use_vae')
    options += ['--no_vgg_loss'] if args.no_vgg else ['--vgg_weights', os.path.join(args.workdir, 'vgg19.pth')]
    return options


def measure(config: dict) -> dict:
    """Runs in the child process: one configuration, returns medians and the peak memory."""
    import torch
    from options.train_options import TrainOptions
    from train import training_run
    from trainers.training_loop import build_trainer
    from models.from_options import runtime_from_options
    from models.synthesizer import Synthesizer
    from util.util import image_size
    runtime_bytes = rss_bytes()
    opt = TrainOptions().parse(config['options'], quiet=True)
    torch.manual_seed(0)
    if config['mode'] == 'train':
        trainer = build_trainer(training_run(opt))
        model = trainer.model
        device = model.device
    else:  # the networks test.py loads (G, and E with --use_vae) from the model folder the parent wrote
        synthesizer = Synthesizer.from_pretrained(os.path.join(config['workdir'], 'model'), gpu_ids=opt.gpu_ids,
                                                  amp=opt.amp, runtime=runtime_from_options(opt),
                                                  sampling=config['sampling'])
        synthesizer = with_backend(synthesizer, BACKENDS.get(config['variant'], 'eager'), config['workdir'])
        device = synthesizer.device
        if device.type == 'cpu':
            from util.device import configure_cpu_allocator
            configure_cpu_allocator(opt.cpu_allocator)
    w, h = image_size(opt.crop_size, opt.aspect_ratio)
    if config['labels']:
        label = label_maps(config['labels'], opt, (w, h))
        instance = label.long()  # class boundaries as the instance edges
    else:
        label = block_label_maps(opt.num_labels, config['classes_per_image'], opt.batchSize, (w, h))
        instance = torch.randint(0, 4, (opt.batchSize, 1, h, w))
    batch = {'label': label, 'instance': instance, 'image': torch.rand(opt.batchSize, 3, h, w) * 2 - 1}
    cuda = device.type == 'cuda'

    def sync():
        if cuda:
            torch.cuda.synchronize()

    gflop = None
    if config['mode'] == 'train':
        def step():
            trainer.run_iteration(batch)
    elif config['mode'] == 'network':
        from models.inputs import autocast
        evaluate = synthesizer.run.one_evaluation(synthesizer.semantics(batch['label'], batch['instance']))

        def step():
            with torch.no_grad(), autocast(device, opt.amp):
                evaluate()
    else:
        def step():
            synthesizer.synthesize_batch(batch, check_finite=False)
        if isinstance(synthesizer.netG, torch.nn.Module) and BACKENDS.get(config['variant']) is None:
            from torch.utils.flop_counter import FlopCounterMode
            with FlopCounterMode(display=False) as counter:  # one image's multiply-adds x 2, G and E
                step()
            gflop = counter.get_total_flops() / 1e9 / opt.batchSize
    times = []
    for index in range(config['warmup'] + config['repeats']):
        sync()
        start = time.perf_counter()
        step()
        sync()
        if index >= config['warmup']:
            times.append(time.perf_counter() - start)
    if cuda:
        peak = above_runtime = torch.cuda.max_memory_allocated()
    else:
        peak = rss_bytes('VmHWM')
        above_runtime = peak - runtime_bytes
    activations = None
    if config['mode'] == 'train':  # what the method's first step (G) keeps for backward (after the peak is read)
        from trainers.trainer import frozen
        from util.memory import saved_tensor_bytes
        label, group = next(iter(trainer.optimization.steps.items()))
        with contextlib.ExitStack() as stack:
            for net in trainer.others(label):
                stack.enter_context(frozen(net))
            _, activations = saved_tensor_bytes(lambda: model(batch, mode=group.mode), model.parameters())
    return {'seconds': statistics.median(times), 'peak_bytes': peak, 'above_runtime_bytes': above_runtime,
            'activation_bytes': activations, 'gflop': gflop}


def write_model_folder(options: list, workdir: str) -> None:
    """The set-up's G (and E) with random weights as a model folder, which every inference child loads as test.py
    would (written here, so that no child's peak memory holds its serialisation)."""
    import torch
    from models.from_options import spec_from_options
    from models.spec import build_networks
    from models.synthesizer import Synthesizer
    from options.train_options import TrainOptions
    opt = TrainOptions().parse(options, quiet=True)
    torch.manual_seed(0)
    spec = spec_from_options(opt).with_networks('GE')
    networks = build_networks(spec, init=(opt.init_type, opt.init_variance))
    Synthesizer(networks['G'], networks['E'], spec).save_pretrained(os.path.join(workdir, 'model'), overwrite=True)


def with_backend(synthesizer, backend: str, workdir: str):
    """The synthesizer computing with `backend`: eager PyTorch, torch.compile, or onnxruntime on its export."""
    import torch
    if backend == 'compile':
        synthesizer.netG = torch.compile(synthesizer.netG)
    elif backend == 'onnxruntime':
        from models.exported import export
        from models.sources import CONFIG_FILE
        from models.synthesizer import Synthesizer
        from util.atomic import atomic_write_text
        folder = os.path.join(workdir, 'onnx')
        os.makedirs(folder, exist_ok=True)
        atomic_write_text(os.path.join(folder, CONFIG_FILE), synthesizer.spec.to_text())
        start = time.perf_counter()
        export(synthesizer, folder)
        print(f'onnx export: {time.perf_counter() - start:.1f} s', file=sys.stderr)
        synthesizer = Synthesizer.from_pretrained(folder, backend='onnxruntime')
    return synthesizer


def block_label_maps(num_labels: int, classes_per_image: int, batch_size: int, size: tuple):
    """Random label maps of 16x16 blocks, each of one of `classes_per_image` classes drawn per image."""
    import torch
    w, h = size
    classes = torch.stack([torch.randperm(num_labels)[:classes_per_image] for _ in range(batch_size)])
    blocks = torch.randint(0, classes.size(1), (batch_size, h // 16 * w // 16))
    label = classes.gather(1, blocks).view(batch_size, 1, h // 16, w // 16)
    return label.float().repeat_interleave(16, 2).repeat_interleave(16, 3)


def label_maps(folder: str, opt, size: tuple):
    """The first batchSize label maps of `folder` (the dataset's files: class ids, 255 don't care) at the model's
    size, as test.py reads them."""
    import torch
    from data.classes import label_set
    from data.label_maps import list_image_files, read_label_map
    labels = label_set(opt.dataset_mode, opt.label_nc, opt.contain_dontcare_label)
    files = list_image_files([folder], '--labels')[:opt.batchSize]
    return torch.stack([read_label_map(path, labels, size) for path in files])


def check_label_folder(folder: str, batch_size: int) -> None:
    from data.errors import DatasetError
    from data.label_maps import list_image_files
    try:
        count = len(list_image_files([folder], '--labels'))
    except DatasetError as exc:
        sys.exit(f'error: {exc}')
    if count < batch_size:
        sys.exit(f'error: --labels {folder} holds {count} label maps, fewer than --batchSize {batch_size}')


def rss_bytes(field: str = 'VmRSS') -> int:
    """Current (VmRSS) or peak (VmHWM) resident memory of this process. Not getrusage's ru_maxrss: Linux
    carries that over from the parent across fork and exec."""
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith(field + ':'):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f'no {field} in /proc/self/status')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument('--method', default=method_registry.REFERENCE_METHOD, choices=method_registry.names(),
                        help="train.py's --model, with its default networks (pix2pix: CC-FPSE's); the variants other "
                             "than ours, ours_compile and ours_onnxruntime are CC-FPSE's generator's")
    parser.add_argument('--netG', default='', help='a generator of the method other than its default (e.g. spade: '
                                                   "SPADE's; its variants are ours and the backends)")
    parser.add_argument('--dataset_mode', default='coco')
    parser.add_argument('--crop_size', type=int, default=256)
    parser.add_argument('--batchSize', type=int, default=1)
    parser.add_argument('--ngf', type=int, default=64)
    parser.add_argument('--ndf', type=int, default=64)
    parser.add_argument('--no_vae', action='store_true')
    parser.add_argument('--no_vgg', action='store_true')
    parser.add_argument('--gpu_ids', default='0')
    parser.add_argument('--amps', default='off,bf16')
    parser.add_argument('--modes', default='train,inference')
    parser.add_argument('--classes_per_image', type=int, default=12)
    parser.add_argument('--labels', default='', help="a folder of the dataset's label maps to use instead of random "
                                                    'blocks (the first --batchSize, resized with nearest)')
    parser.add_argument('--variants', default='reference,ours',
                        help=f'comma-separated, of {", ".join(VARIANT_OPTIONS)}')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--workdir', default=os.path.join(ROOT, 'checkpoints', 'benchmark_work'))
    add_sampling_arguments(parser)
    parser.add_argument('--child', default='', help=argparse.SUPPRESS)
    # Other options go to the model as train.py reads them (e.g. SDM's --num_channels 64 --use_checkpoint).
    args, args.model_options = parser.parse_known_args()
    if args.child:
        print(json.dumps(measure(json.loads(args.child))))
        return
    variants = args.variants.split(',')
    unknown = [variant for variant in variants if variant not in VARIANT_OPTIONS]
    if unknown:
        sys.exit(f'error: --variants: unknown {", ".join(unknown)}; choose from {", ".join(VARIANT_OPTIONS)}')
    generator = args.netG or method_registry.method(args.method).default_generator
    others = sorted(v for v in variants if VARIANT_GENERATORS.get(v, generator) != generator)
    if others:
        sys.exit(f'error: --variants {", ".join(others)} choose another generator\'s implementation than --netG '
                 f'{generator}\'s: {", ".join(f"{v} is --netG {VARIANT_GENERATORS[v]}" for v in others)}')
    synthesis = method_registry.method(args.method).synthesis
    if 'network' in args.modes.split(',') and synthesis is None:
        sys.exit(f'error: --modes network times one evaluation of a sampler\'s network: --method {args.method} makes '
                 'its images in one pass (its inference mode times that)')
    if 'train' in args.modes.split(',') and set(variants) & set(BACKENDS):
        sys.exit(f'error: --variants {", ".join(sorted(set(variants) & set(BACKENDS)))} time inference only: pass '
                 f'--modes inference')

    if args.labels:
        check_label_folder(args.labels, args.batchSize)
    os.makedirs(args.workdir, exist_ok=True)
    if not args.no_vgg and not os.path.exists(os.path.join(args.workdir, 'vgg19.pth')):
        import torch
        import torchvision
        torch.save(torchvision.models.vgg19().state_dict(), os.path.join(args.workdir, 'vgg19.pth'))
    if {'inference', 'network'} & set(args.modes.split(',')):
        write_model_folder(model_args(args) + ['--gpu_ids', '-1'], args.workdir)
    results = {}
    for mode in args.modes.split(','):
        for amp in args.amps.split(','):
            for variant in variants:
                options = model_args(args) + ['--amp', amp] + VARIANT_OPTIONS[variant]
                config = {'options': options, 'mode': mode, 'repeats': args.repeats, 'warmup': args.warmup,
                          'variant': variant, 'workdir': os.path.abspath(args.workdir),
                          'classes_per_image': args.classes_per_image, 'sampling': sampling_of(args),
                          'labels': os.path.abspath(args.labels) if args.labels else ''}
                child = subprocess.run([sys.executable, os.path.abspath(__file__), '--child', json.dumps(config)],
                                       capture_output=True, text=True)
                if child.returncode != 0:  # a child killed for memory says nothing
                    said = child.stderr.strip().splitlines()
                    last = said[-1] if said else f'exit status {child.returncode} (out of memory?)'
                    sys.exit(f'error: {mode}/{amp}/{variant} failed: {last}')
                results[mode, amp, variant] = json.loads(child.stdout.strip().splitlines()[-1])
    width = max(map(len, variants)) + 2
    print(f'{"mode":<10}{"amp":<6}{"variant":<{width}}{"seconds":>9}{"peak MiB":>10}{"above rt":>10}'
          f'{"time x":>8}{"mem x":>7}{"above rt x":>11}{"act MiB":>9}{"act x":>7}{"GFLOP":>8}')
    for (mode, amp, variant), r in results.items():
        base = results[mode, args.amps.split(',')[0], variants[0]]
        activations = (f'{r["activation_bytes"] / 2**20:>9.0f}{r["activation_bytes"] / base["activation_bytes"]:>7.2f}'
                       if r['activation_bytes'] is not None else f'{"-":>9}{"-":>7}')
        gflop = f'{r["gflop"]:>8.1f}' if r.get('gflop') is not None else f'{"-":>8}'
        print(f'{mode:<10}{amp:<6}{variant:<{width}}{r["seconds"]:>9.3f}{r["peak_bytes"] / 2**20:>10.0f}'
              f'{r["above_runtime_bytes"] / 2**20:>10.0f}{r["seconds"] / base["seconds"]:>8.2f}'
              f'{r["peak_bytes"] / base["peak_bytes"]:>7.2f}'
              f'{r["above_runtime_bytes"] / base["above_runtime_bytes"]:>11.2f}'
              f'{activations}{gflop}')
    for (mode, amp, variant), r in results.items():
        if mode != 'network':
            continue
        for given in synthesis.BENCHMARKED:
            settings = synthesis.settings_of(**{**given, **({'guidance': args.guidance} if args.guidance else {})})
            print(f'{amp} {variant}: {settings.sampler} {settings.step_count} steps, guidance {settings.guidance}: '
                  f'{settings.network_evaluations} evaluations, {settings.network_evaluations * r["seconds"]:.1f} s '
                  + ('an image' if args.batchSize == 1 else f'a batch of {args.batchSize}'))


if __name__ == '__main__':
    main()
