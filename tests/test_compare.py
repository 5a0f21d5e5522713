"""scripts/compare.py: three tiny models of three methods on the same label maps, side by side on one page, with
figures equal to the project's own measures (layout fidelity as layout_fidelity.py computes it, FID as evaluate.py
fid)."""
import os
import re

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import run_script, save_trained_looking_model

SDM = ['--model', 'sdm', '--num_channels', '32', '--num_res_blocks', '1', '--attention_resolutions', '16,8',
       '--num_head_channels', '16']


@pytest.mark.slow(seconds=40)
def test_three_methods_side_by_side_with_the_projects_figures(tmp_path, inception_weights):
    from data.label_maps import read_label_map, read_photo
    from models.sources import resolve
    from util.layout_fidelity import per_class_color_error
    ck = str(tmp_path / 'ck')
    for name, args in (('ccfpse', ['--use_vae']), ('oasis', ['--model', 'oasis', '--ngf', '4', '--ndf', '4']),
                       ('sdm', SDM)):
        save_trained_looking_model(ck, name, ['--dataset_mode', 'synthetic', *args])
    maps, photos = tmp_path / 'maps', tmp_path / 'photos'
    maps.mkdir()
    photos.mkdir()
    rng = np.random.default_rng(0)
    for index in range(2):
        label = np.kron(rng.integers(0, 12, (4, 4)), np.ones((16, 16), np.int64)).astype(np.uint8)
        Image.fromarray(label).save(maps / f'scene{index}.png')
        colours = rng.integers(0, 256, (12, 3)).astype(np.uint8)
        Image.fromarray(colours[label]).save(photos / f'scene{index}.jpg', quality=95)
    out = tmp_path / 'compare'
    models = [os.path.join(ck, name) for name in ('ccfpse', 'oasis', 'sdm')]
    common = ['--models', *models, '--labels', str(maps), '--photos', str(photos), '--seeds', '0-1', '--out', str(out),
              '--gpu_ids', '-1', '--min_fid_images', '2', '--fid_dims', '64', '--inception_weights', inception_weights,
              '--sampler', 'ddim', '--steps', '2']
    result = run_script('scripts/compare.py', *common)
    assert result.returncode == 0, result.stderr[-3000:]
    page = (out / 'index.html').read_text()
    # each label map's row: the label map, then each model's two seeds, in the order given
    sources = re.findall(r'<img[^>]*src="([^"]+)"', page)
    assert sources[:7] == ['ccfpse/labels/scene0.png'] + [f'{m}/scene0_seed{s}.png' for m in ('ccfpse', 'oasis', 'sdm')
                                                           for s in (0, 1)]
    assert len(sources) == 14 and all((out / s).is_file() for s in sources)
    # the table's figures are the project's measures of the same images
    lines = {line.split()[1]: line for line in result.stdout.splitlines() if line.startswith('model ')}
    assert sorted(lines) == ['ccfpse', 'oasis', 'sdm'], result.stdout
    for name in ('ccfpse', 'oasis', 'sdm'):
        spec = resolve(os.path.join(ck, name)).spec
        errors = []
        for index in range(2):
            label = read_label_map(str(out / name / 'labels' / f'scene{index}.png'), spec.labels, (64, 64))
            real = read_photo(str(photos / f'scene{index}.jpg'), (64, 64))
            for seed in (0, 1):
                image = np.array(Image.open(out / name / f'scene{index}_seed{seed}.png').convert('RGB'))
                fake = torch.from_numpy(image).permute(2, 0, 1).float() / 127.5 - 1
                errors.append(per_class_color_error(fake[None], real[None], label[None]))
        assert f'layout fidelity (colour error) {sum(errors) / len(errors):.4f}' in lines[name]
        fid = run_script('scripts/evaluate.py', 'fid', '--real_dir', str(out / 'photos'), '--fake_dir',
                         str(out / name), '--dims', '64', '--inception_weights', inception_weights, '--stats_cache', '',
                         '--device', 'cpu')
        assert fid.returncode == 0, fid.stderr[-2000:]
        value = float(re.search(r'fid ([0-9.]+)', fid.stdout).group(1))
        assert f'FID {value:.4f}' in lines[name]
    # a rerun makes nothing again (synthesize.py's resumption, per model)
    again = run_script('scripts/compare.py', *common)
    assert again.returncode == 0 and again.stdout.count('Synthesized 0 images') == 3, again.stdout[-2000:]
