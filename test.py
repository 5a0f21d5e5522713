"""Synthesise images for a dataset split with a trained model: results/<name>/<phase>_<which_epoch>/index.html.

A rerun of the same job skips the batches whose images are all written (manifest.json beside index.html records
the model files' SHA-256, the options and the dataset folder); a changed job starts over.
`python test.py ...` in one process, or `torchrun --nproc_per_node=N test.py ...`: every process takes its own
batches (batch k goes to process k mod N, none twice), and rank 0 writes the page once all have finished. Each
batch draws its style noise from a seed of its own, so the images are the same, byte for byte, whatever the number
of processes. The work is models.synthesis_job.synthesize_split."""
from models.synthesis_job import synthesize_split
from options.test_options import TestOptions
from util.errors import run_cli


def main() -> None:
    options = TestOptions()
    synthesize_split(options.split_job(options.parse()))


if __name__ == '__main__':
    run_cli(main)
