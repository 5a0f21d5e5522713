"""Synthesise images for a dataset split with a trained model: results/<name>/<phase>_<which_epoch>/index.html.

A rerun of the same job skips the batches whose images are all written (manifest.json beside index.html records
the model files' SHA-256, the options and the dataset folder); a changed job starts over.
`python test.py ...` in one process, or `torchrun --nproc_per_node=N test.py ...`: every process takes its own
batches (batch k goes to process k mod N, none twice), and rank 0 writes the page once all have finished. Each
batch draws its style noise from a seed of its own, so the images are the same, byte for byte, whatever the number
of processes. The work is trainers.testing.synthesize_split."""
from options.run_settings import split_job
from options.test_options import TestOptions
from trainers.testing import synthesize_split
from util.errors import run_cli


def main() -> None:
    options = TestOptions()
    synthesize_split(split_job(options.parse(), options.format_options))


if __name__ == '__main__':
    run_cli(main)
