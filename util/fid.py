"""FID through pytorch-fid (the field's reference implementation, TF-Inception weights), with cached real statistics."""
import contextlib
import hashlib
import io
import json
import os
import pathlib
import warnings
from typing import List, Optional, Tuple

import numpy as np
import torch

from util.checkpoint import load_tensor_file
from util.atomic import atomic_open
from util.distributed import DistInfo, all_true, gather_rows
from util.errors import UserError
from util.user_files import image_header_size, open_image, read_npz
from util.util import MAX_INPUT_PIXELS, chunks, pixel_limit_problem
from util.vision import require_torchvision

# pytorch-fid's feature sizes (its --dims): 2048 is the pool3 layer every paper reports; the smaller ones come from
# earlier layers and suit fewer images than 2048, whose covariance is otherwise singular (and slow to take the
# square root of). Values of different sizes are not comparable.
DIMS = (64, 192, 768, 2048)
PAPER_DIMS = 2048


def image_files(folder: str) -> List[str]:
    """The files pytorch-fid reads from a folder, in its order."""
    require_torchvision()  # pytorch-fid imports it
    from pytorch_fid.fid_score import IMAGE_EXTENSIONS
    if not os.path.isdir(folder):
        raise UserError(f'image folder {folder} does not exist')
    path = pathlib.Path(folder)
    files = sorted(str(f) for ext in IMAGE_EXTENSIONS for f in path.glob(f'*.{ext}'))
    if not files:
        raise UserError(f'image folder {folder} has no images ({", ".join(sorted(IMAGE_EXTENSIONS))})')
    return files


def image_size(files: List[str], folder: str) -> Tuple[int, int]:
    sizes = {}
    for f in files:
        size = image_header_size(f, 'image')
        too_large = pixel_limit_problem(f'image {f}', size, MAX_INPUT_PIXELS)
        if too_large:  # before any is decoded
            raise UserError(too_large)
        sizes.setdefault(size, f)
    if len(sizes) > 1:
        (a, fa), (b, fb) = list(sizes.items())[:2]
        raise UserError(f'images in {folder} differ in size ({os.path.basename(fa)} is {a[0]}x{a[1]}, '
                        f'{os.path.basename(fb)} is {b[0]}x{b[1]}): FID compares images of one resolution')
    return next(iter(sizes))


@contextlib.contextmanager
def _weights_from(path: str):
    """Make pytorch-fid read its Inception weights from a local file instead of downloading them."""
    require_torchvision()
    import pytorch_fid.inception as inception
    original = inception.load_state_dict_from_url
    inception.load_state_dict_from_url = lambda *args, **kwargs: load_tensor_file(path, 'Inception weights file '
                                                                                        '(--inception_weights)')
    try:
        yield
    finally:
        inception.load_state_dict_from_url = original


def inception_model(weights_path: str = '', device: str = 'cpu', dims: int = PAPER_DIMS) -> torch.nn.Module:
    """pytorch-fid's InceptionV3 up to the layer of `dims` features (pool3 for 2048) with the TF-Inception weights:
    downloaded, or from a local file."""
    require_torchvision()
    from pytorch_fid.inception import InceptionV3
    block = InceptionV3.BLOCK_INDEX_BY_DIM[dims]
    if weights_path:
        if not os.path.isfile(weights_path):
            raise UserError(f'--inception_weights {weights_path}: no such file')
        with _weights_from(weights_path):
            try:
                model = InceptionV3([block])
            except (RuntimeError, TypeError, AttributeError):
                raise UserError(f'--inception_weights {weights_path}: not pytorch-fid Inception weights') from None
    else:
        try:
            model = InceptionV3([block])
        except Exception as exc:  # no network and nothing cached
            raise UserError(f'the FID Inception weights are not available offline ({type(exc).__name__}): pass '
                            '--inception_weights PATH (pt_inception-2015-12-05-6726825d.pth from '
                            'pytorch-fid)') from None
    return model.to(device).eval()


def weights_tag(weights_path: str) -> str:
    if not weights_path:
        return 'pt_inception-2015-12-05'
    stat = os.stat(weights_path)
    return f'{os.path.abspath(weights_path)}:{stat.st_size}:{stat.st_mtime_ns}'


def statistics_cache_path(files: List[str], folder: str, weights_path: str, cache_dir: str,
                          dims: int = PAPER_DIMS) -> str:
    """A name that changes whenever a file is added, removed or modified, or the weights or feature size change."""
    listing = [(os.path.basename(f), os.stat(f).st_size, os.stat(f).st_mtime_ns) for f in files]
    digest = hashlib.sha1(json.dumps([listing, weights_tag(weights_path), dims]).encode()).hexdigest()[:16]
    return os.path.join(cache_dir, f'{os.path.basename(os.path.normpath(folder))}_{digest}.npz')


def activations(files: List[str], model: torch.nn.Module, batch_size: int, device: str, dims: int = PAPER_DIMS,
                dist: DistInfo = DistInfo()) -> np.ndarray:
    """(len(files), dims) float64 Inception features, as pytorch-fid's get_activations makes them: the same batches
    of `batch_size` files in order, the same tensors, the same pooling. Under torchrun, batch k is computed by
    process k mod N and every process gets all rows back in file order, so the values equal one process's."""
    to_tensor = require_torchvision().transforms.functional.to_tensor
    from tqdm import tqdm
    batch_size = min(batch_size, len(files))
    batches = chunks(files, batch_size)
    mine = dist.share(batches)
    rows = []
    model.eval()
    for batch in tqdm(mine, desc='Inception features', unit='batch', leave=False, disable=not dist.is_main):
        images = torch.stack([to_tensor(open_image(path, 'image', MAX_INPUT_PIXELS).convert('RGB'))
                              for path in batch]).to(device)
        with torch.no_grad():
            features = model(images)[0]
        if features.shape[2:] != (1, 1):  # the smaller --dims come from spatial layers: pytorch-fid averages them
            features = torch.nn.functional.adaptive_avg_pool2d(features, output_size=(1, 1))
        rows.append(features.flatten(1).cpu())
    mine_rows = torch.cat(rows) if rows else torch.zeros(0, dims)
    per_rank = gather_rows(mine_rows, dist)
    # Back in file order: batch k is row block k // N of rank k mod N (only the very last batch can be short).
    ordered = [per_rank[k % dist.world_size][(k // dist.world_size) * batch_size:][:len(batches[k])]
               for k in range(len(batches))]
    return torch.cat(ordered).double().numpy()


def folder_statistics(folder: str, model: torch.nn.Module, batch_size: int, device: str, weights_path: str = '',
                      cache_dir: Optional[str] = None, dims: int = PAPER_DIMS,
                      dist: DistInfo = DistInfo()) -> Tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the `dims` Inception features (the model's) of a folder's images, cached when asked
    (rank 0 writes the cache)."""
    files = image_files(folder)
    image_size(files, folder)
    cache = statistics_cache_path(files, folder, weights_path, cache_dir, dims) if cache_dir else None
    if cache and all_true(os.path.isfile(cache), dist):
        stats = read_npz(cache, 'statistics cache file (--stats_cache)', {'mu': 1, 'sigma': 2})
        return stats['mu'], stats['sigma']
    features = activations(files, model, batch_size, device, dims, dist)
    mu, sigma = np.mean(features, axis=0), np.cov(features, rowvar=False)  # pytorch-fid's statistics
    if cache and dist.is_main:
        os.makedirs(cache_dir, exist_ok=True)
        with atomic_open(cache) as f:
            np.savez(f, mu=mu, sigma=sigma)
    return mu, sigma


def fid_between(real: str, fake: str, weights_path: str = '', batch_size: int = 50, device: str = 'cpu',
                cache_dir: Optional[str] = None, dims: int = PAPER_DIMS, dist: DistInfo = DistInfo()) -> float:
    """FID of the images in `fake` against those in `real` (a folder, or an .npz of its statistics of `dims`
    features); under torchrun every process computes its share of the features and gets the same value."""
    require_torchvision()
    from pytorch_fid.fid_score import calculate_frechet_distance
    if not real.endswith('.npz'):
        real_size = image_size(image_files(real), real)
        fake_size = image_size(image_files(fake), fake)
        if real_size != fake_size:
            raise UserError(f'real images are {real_size[0]}x{real_size[1]} but generated ones '
                            f'{fake_size[0]}x{fake_size[1]}: '
                            'compare at the generator\'s resolution')
    given = real.endswith('.npz')  # read first: a bad file is named before Inception is loaded
    stats = read_npz(real, 'statistics file', {'mu': 1, 'sigma': 2}) if given else None
    model = inception_model(weights_path, device, dims)
    mu1, sigma1 = (stats['mu'], stats['sigma']) if given else \
        folder_statistics(real, model, batch_size, device, weights_path, cache_dir, dims, dist)
    mu2, sigma2 = folder_statistics(fake, model, batch_size, device, weights_path, dims=dims, dist=dist)
    if mu1.shape != mu2.shape:
        raise UserError(f'--real_dir {real} holds statistics of {mu1.shape[0]} features, not {dims}: pass --dims '
                        f'{mu1.shape[0]}')
    # pytorch-fid prints its own notice when the covariance product is singular; ours says why and what to do.
    # Its scipy warnings too: the singular product (said below with its reason) and scipy's deprecation of the
    # `disp` argument that pytorch-fid passes (the library's, not ours to mend).
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        warnings.filterwarnings('ignore', message='Matrix is singular')
        value = float(calculate_frechet_distance(mu1, sigma1, mu2, sigma2))
    images = len(image_files(fake))
    if images <= dims and dist.is_main:
        smaller = [str(d) for d in DIMS if d < dims]
        instead = (f', or a smaller --dims ({", ".join(smaller)}) for a comparison among your own runs'
                   if smaller else '')
        print(f'note: {images} generated images for {dims}-d features: their covariance is singular, so this FID is '
              f'far from what more images give; use a few thousand images{instead}')
    return value
