"""manifest.json of an output folder: what made its files (the model's files by SHA-256, the options, the inputs),
so that a rerun of the same job skips the files already written and a changed job starts over."""
import hashlib
import json
import os
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

from util.atomic import atomic_write_text
from util.paths import within
from util.distributed import DistInfo, all_true

MANIFEST = 'manifest.json'


def sha256(path: str) -> str:
    """The file's SHA-256, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


OUTPUTS_KEY = 'outputs'  # the files a job writes, relative to its folder: the next other job removes them


class OutputManifest:
    def __init__(self, folder: str, record: Dict[str, Any]):
        self.path = os.path.join(folder, MANIFEST)
        self.record = json.loads(json.dumps(record))  # as it reads back from the file

    def read(self) -> Dict[str, Any]:
        try:
            with open(self.path) as f:
                found = json.load(f)
            return found if isinstance(found, dict) else {}
        except (OSError, ValueError):
            return {}

    def matches(self) -> bool:
        """Whether the folder's files were made by this very job (so that those written are done)."""
        found = self.read()
        return bool(found) and {k: v for k, v in found.items() if k != OUTPUTS_KEY} == self.record

    def start_over(self, outputs: Iterable[str]) -> None:
        """Remove the files another job wrote here (those its manifest lists: other seeds, other names) and this
        job's `outputs` left by it, then record this job and its files: a kill after this leaves only files of this
        job, which a rerun keeps."""
        folder = os.path.dirname(self.path)
        listed = self.read().get(OUTPUTS_KEY, [])
        # only paths that stay in the folder: a hand-edited manifest removes nothing else
        previous = [os.path.join(folder, name) for name in listed if isinstance(name, str) and not os.path.isabs(name)
                    and within(os.path.realpath(os.path.join(folder, name)), os.path.realpath(folder))]
        if os.path.exists(self.path):
            os.remove(self.path)
        outputs = list(outputs)
        for path in previous + outputs:
            if os.path.isfile(path):
                os.remove(path)
        files = sorted(os.path.relpath(path, folder) for path in outputs)
        atomic_write_text(self.path, json.dumps({**self.record, OUTPUTS_KEY: files}, indent=1, sort_keys=True))


class ResumableOutputs:
    """A job's outputs in `folder`, in units (a label map, a batch) of files: which units a rerun of the same job
    still has to make (every process agrees), and, once the inputs are checked, the clearing of another job's
    files (rank 0). `record` (rank 0's; None elsewhere) is what decides the files, as OutputManifest keeps it."""

    def __init__(self, folder: str, record: Optional[Dict[str, Any]], units: Sequence,
                 outputs: Callable[[Any], List[str]], dist: DistInfo):
        self.folder, self.units, self.outputs = folder, list(units), outputs
        self.manifest = OutputManifest(folder, record) if dist.is_main else None
        self.resuming = all_true(self.manifest.matches() if dist.is_main else True, dist)
        self.todo = [u for u in self.units if not (self.resuming and all(map(os.path.isfile, outputs(u))))]

    def begin(self, what: str, same: str) -> None:
        """Rank 0, before anything is written: remove another job's files, or say how many `what` are done
        (`same`: what made them the same job)."""
        if not self.resuming:
            self.manifest.start_over(path for unit in self.units for path in self.outputs(unit))
        elif len(self.todo) < len(self.units):
            print(f'note: {len(self.units) - len(self.todo)} of {len(self.units)} {what} already have their images '
                  f'in {self.folder} (the same {same}): skipped')

