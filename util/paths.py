"""Where a command may write: never over what it reads.

A command that writes files checks its output against its inputs before anything is written: an output folder
that is, contains or is inside an input (a folder of label maps, a dataset, a model folder, a single input file),
or an output file that is an input file, stops with one line."""
import os
from typing import Iterable, Mapping, Optional

from util.errors import UserError

Inputs = Mapping[str, Iterable[Optional[str]]]  # {option or what it is: the paths} ('' and None are skipped)


def within(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or below it (both real, absolute paths)."""
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:  # different drives (Windows)
        return False


def check_output_apart(output: str, option: str, inputs: Inputs, output_is_file: bool = False) -> None:
    """Stop with one line if writing `output` (the value of `option`) could replace or mix with an input: a folder
    that is, contains or is inside an input path; a file that is an input file or lies inside an input folder.
    Links are followed, so another name for the same place is caught too."""
    real_output = os.path.realpath(output)
    for input_option, paths in inputs.items():
        for path in paths:
            if not path:
                continue
            real_input = os.path.realpath(path)
            if output_is_file:
                clash = real_output == real_input or (os.path.isdir(real_input) and within(real_output, real_input))
            else:
                clash = within(real_output, real_input) or within(real_input, real_output)
            if clash:
                what = 'is inside' if real_output != real_input and within(real_output, real_input) else \
                    ('is' if real_output == real_input else 'contains')
                raise UserError(f'{option} {output} {what} {input_option} {path}, which this command reads: its '
                                f'files could be overwritten; choose {option} outside the inputs (nothing was written)')


# The repository's code packages: a model folder written into one would be taken for code (and committed with it).
REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CODE_PACKAGES = ('models', 'data', 'options', 'trainers', 'util', 'scripts', 'tests', 'docs')


def check_outside_code(output: str, option: str) -> None:
    """Stop with one line if `output` lies inside one of this repository's code packages."""
    real_output = os.path.realpath(output)
    for package in CODE_PACKAGES:
        folder = os.path.realpath(os.path.join(REPOSITORY, package))
        if within(real_output, folder):
            raise UserError(f'{option} {output} is inside the code package {package}/: write models elsewhere, e.g. '
                            f'{option} pretrained/{os.path.basename(os.path.normpath(output))} (ignored by git)')
