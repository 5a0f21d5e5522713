"""How training shares a machine: a short run (the quickstart's CC-FPSE settings on the synthetic set, --images
images, one epoch) alone, then --copies of it started together, with the fair share of compute threads
(util.threads; the default) and with the count fixed by OMP_NUM_THREADS (every process keeps all the CPUs: the
behaviour without the watcher). Whole-process wall times, medians over --repeats (interleaved, so that a drift of
the machine touches every setting alike).

python scripts/benchmark_sharing.py [--copies 2] [--images 60] [--repeats 3]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from util.threads import usable_cpus

# scripts/quickstart.sh's CC-FPSE settings.
QUICKSTART = ['--dataset_mode', 'synthetic', '--gpu_ids', '-1', '--ngf', '8', '--ndf', '16', '--batchSize', '2',
              '--lr', '0.001', '--lambda_feat', '20', '--no_vgg_loss', '--niter', '1', '--niter_decay', '0',
              '--display_freq', '40', '--print_freq', '20', '--overwrite']


def run_together(copies: int, images: int, env: Dict[str, str], workdir: str) -> List[float]:
    """Start `copies` training runs at once; each one's wall time in seconds."""
    started, runs = time.monotonic(), []
    for i in range(copies):
        command = [sys.executable, os.path.join(ROOT, 'train.py'), *QUICKSTART, '--max_dataset_size', str(images),
                   '--name', f'sharing{i}', '--checkpoints_dir', workdir]
        runs.append(subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    seconds = [0.0] * copies
    pending = dict(enumerate(runs))
    while pending:
        for i, run in list(pending.items()):
            if run.poll() is not None:
                seconds[i] = time.monotonic() - started
                if run.returncode != 0:
                    sys.exit(f'error: a training run failed: {run.stderr.read().decode().strip().splitlines()[-1]}')
                del pending[i]
        time.sleep(0.05)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--copies', type=int, default=2, help='runs started together (default: 2)')
    parser.add_argument('--images', type=int, default=60, help='images of the one epoch (default: 60)')
    parser.add_argument('--repeats', type=int, default=3, help='runs of each measurement (default: 3)')
    args = parser.parse_args()
    if min(args.copies, args.images, args.repeats) < 1:
        parser.error('--copies, --images and --repeats take a positive number')
    base_env = {k: v for k, v in os.environ.items() if k != 'OMP_NUM_THREADS'}
    settings = {'fair share (default)': base_env,
                f'OMP_NUM_THREADS={usable_cpus()} (fixed)': {**base_env, 'OMP_NUM_THREADS': str(usable_cpus())}}
    times: Dict[tuple, List[float]] = {}
    with tempfile.TemporaryDirectory() as workdir:
        for repeat in range(args.repeats):
            for name, env in settings.items():
                for copies in (1, args.copies):
                    seconds = run_together(copies, args.images, env, workdir)
                    times.setdefault((name, copies), []).append(max(seconds))
                    print(f'  run {repeat + 1}/{args.repeats}, {name}, {copies} at once: '
                          f'{", ".join(f"{s:.1f}" for s in seconds)} s', flush=True)
    print(f'\n{usable_cpus()} usable CPUs, {args.images} images, one epoch; medians of {args.repeats}, the slowest '
          'run of each start')
    print(f'{"threads":<28} {"alone s":>8} {f"{args.copies} at once s":>13} {"ratio":>6}')
    for name in settings:
        alone, together = (statistics.median(times[(name, c)]) for c in (1, args.copies))
        print(f'{name:<28} {alone:>8.1f} {together:>13.1f} {together / alone:>6.2f}')


if __name__ == '__main__':
    main()
