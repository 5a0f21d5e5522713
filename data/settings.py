"""DataSettings: everything the data layer reads, as one value (the options build it: options.data_settings)."""
import dataclasses
from typing import Any, Dict


@dataclasses.dataclass(frozen=True)
class DataSettings:
    """What a dataset and its loader read. The fields keep the options' names (`isTrain`, `batchSize`, ...), so a
    dataset written for the reference's `initialize(opt)` / `get_paths(opt)` reads them unchanged; the options a
    dataset declares itself in `modify_commandline_options` (`--label_dir`, `--no_pairing_check`, ...) are in `own`
    and read as attributes too."""
    dataset_mode: str
    dataroot: str
    phase: str
    isTrain: bool
    # preprocessing
    preprocess_mode: str
    load_size: int
    crop_size: int
    aspect_ratio: float
    no_flip: bool
    # what an item holds
    label_nc: int
    contain_dontcare_label: bool
    num_labels: int
    no_instance: bool
    output_nc: int
    # which items, in which order
    seed: int
    max_dataset_size: int
    cache_filelist_read: bool
    cache_filelist_write: bool
    batchSize: int
    serial_batches: bool
    nThreads: int
    own: Dict[str, Any] = dataclasses.field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        # Called only for names that are not fields: the dataset's own options.
        own = self.__dict__.get('own', {})
        if name in own:
            return own[name]
        raise AttributeError(f'the data settings have no {name!r}: a dataset reads the fields of data.DataSettings '
                             'and the options it declares in its modify_commandline_options')
