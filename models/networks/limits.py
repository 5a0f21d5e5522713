"""The range of every numeric network argument: the one place that says what a spec (networks.json, opt.json) or a
command line may ask for. The upper ends are far above any published model (the paper's widths are 64, its crops
256 and 512) and low enough that a typo or a tampered file cannot make a network that fills the machine's memory."""
from typing import Callable, Dict, Tuple

from util.arguments import int_in

# argument: (smallest, largest)
INT_LIMITS: Dict[str, Tuple[int, int]] = {
    'ngf': (1, 256),
    'ndf': (1, 256),
    'z_dim': (1, 1024),
    'predictor_nc': (1, 512),
    'crop_size': (1, 2048),
    'load_size': (1, 4096),      # images are scaled to it before the crop: 16 megapixels
    'label_nc': (1, 2048),
    'semantic_nc': (1, 2050),    # label_nc + don't-care + instance edges
    'output_nc': (1, 3),
    'num_D': (1, 6),
    'n_layers_D': (1, 8),
}
# argument: (smallest, largest), both excluded for aspect_ratio
FLOAT_LIMITS: Dict[str, Tuple[float, float]] = {
    'aspect_ratio': (0.1, 10.0),
}


def limited_int(argument: str) -> Callable[[str], int]:
    """The argparse type of a network argument of INT_LIMITS."""
    return int_in(*INT_LIMITS[argument])
