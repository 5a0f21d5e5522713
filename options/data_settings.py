"""The data layer's settings from parsed options: the one place where `opt` becomes data.DataSettings."""
import argparse
from typing import Any

import data
from data.settings import DataSettings
from util.util import settings_from
from .parser import OptionParser


def dataset_option_names(dataset_mode: str, is_train: bool) -> list:
    """The options that dataset `dataset_mode` declares in its modify_commandline_options."""
    parser = OptionParser()
    data.get_option_setter(dataset_mode)(parser, is_train)
    return list(parser.declared)


def data_settings(opt: argparse.Namespace, **changes: Any) -> DataSettings:
    """DataSettings of `opt` (its fields, and the dataset's own options), with `changes` applied."""
    own = {name: getattr(opt, name) for name in dataset_option_names(opt.dataset_mode, opt.isTrain)}
    return settings_from(DataSettings, opt, own=own, **changes)
