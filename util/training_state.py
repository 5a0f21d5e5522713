"""RNG states for the training-state file beside the weights (util.checkpoint.CheckpointStore saves it).

Saved as tensors and plain Python values only, so it loads with torch.load(weights_only=True).
"""
import random
from typing import Dict

import numpy as np
import torch


def capture_rng() -> Dict:
    version, state, gauss = random.getstate()
    np_state = np.random.get_state()
    rng = {
        'python': {'version': version, 'state': torch.tensor(state, dtype=torch.int64), 'gauss': gauss},
        'numpy': {'keys': torch.from_numpy(np_state[1].astype(np.int64)), 'pos': int(np_state[2]),
                  'has_gauss': int(np_state[3]), 'cached_gaussian': float(np_state[4])},
        'torch': torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        rng['cuda'] = torch.cuda.get_rng_state_all()
    return rng


def restore_rng(rng: Dict) -> None:
    py = rng['python']
    random.setstate((py['version'], tuple(int(v) for v in py['state'].tolist()), py['gauss']))
    n = rng['numpy']
    np.random.set_state(('MT19937', n['keys'].numpy().astype(np.uint32), n['pos'], n['has_gauss'],
                         n['cached_gaussian']))
    torch.set_rng_state(rng['torch'])
    if 'cuda' in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng['cuda'])
