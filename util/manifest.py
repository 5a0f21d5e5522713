"""manifest.json of an output folder: what made its files (the model's files by SHA-256, the options, the inputs),
so that a rerun of the same job skips the files already written and a changed job starts over."""
import json
import os
from typing import Any, Dict, Iterable

from util.checkpoint import atomic_write_text

MANIFEST = 'manifest.json'


class OutputManifest:
    def __init__(self, folder: str, record: Dict[str, Any]):
        self.path = os.path.join(folder, MANIFEST)
        self.record = json.loads(json.dumps(record))  # as it reads back from the file

    def matches(self) -> bool:
        """Whether the folder's files were made by this very job (so that those written are done)."""
        try:
            with open(self.path) as f:
                return json.load(f) == self.record
        except (OSError, ValueError):
            return False

    def start_over(self, outputs: Iterable[str]) -> None:
        """Remove `outputs` left by another job (a changed model, options or inputs), then record this job: a kill
        after this leaves only files of this job, which a rerun keeps."""
        if os.path.exists(self.path):
            os.remove(self.path)
        for path in outputs:
            if os.path.exists(path):
                os.remove(path)
        atomic_write_text(self.path, json.dumps(self.record, indent=1, sort_keys=True))
