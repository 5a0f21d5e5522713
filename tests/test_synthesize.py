"""Synthesis from your own label maps: the API, scripts/synthesize.py, presets for the released checkpoints."""
import json
import os
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import (load_script, oasis_layout, random_state, released_layout, save_trained_looking_model,
                     spade_layout)
from data.classes import label_set
from data.label_maps import read_label_map, render_label_map
from models.inputs import seed_style
from models.synthesizer import Synthesizer
from models.sources import preset_names
from options.synthesis_options import parse_seeds
from util.errors import UserError

MODELS = {
    'vae': ['--dataset_mode', 'synthetic', '--use_vae'],
    'plain': ['--dataset_mode', 'synthetic'],
    'coco': ['--dataset_mode', 'coco', '--use_vae', '--crop_size', '64'],  # COCO-Stuff's 182 classes + don't care
}


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory) -> str:
    folder = str(tmp_path_factory.mktemp('checkpoints'))
    for name, args in MODELS.items():
        save_trained_looking_model(folder, name, args)
    return folder


def blocks(classes, size=(64, 64), cell=16, seed=0) -> np.ndarray:
    """A label map of `cell`-pixel blocks of the given class ids, resized (nearest) to `size` (w, h)."""
    rng = np.random.default_rng(seed)
    grid = rng.choice(classes, size=(64 // cell, 64 // cell)).astype(np.uint8)
    return np.array(Image.fromarray(np.kron(grid, np.ones((cell, cell), dtype=np.uint8))).resize(size, Image.NEAREST))


def write(path, array_or_image) -> str:
    image = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    image.save(path)
    return str(path)



SCRIPT = load_script('synthesize')


def synthesize(monkeypatch, checkpoints, *args) -> None:
    """scripts/synthesize.py in this process, as on the command line (an error exits with status 1)."""
    from util.errors import run_cli
    monkeypatch.setattr(sys, 'argv', ['synthesize.py', '--checkpoints_dir', checkpoints, '--gpu_ids', '-1', *args])
    run_cli(SCRIPT.main)


def pixels(path) -> np.ndarray:
    return np.array(Image.open(path))


def test_a_seed_reproduces_its_image_alone_and_seeds_differ(monkeypatch, checkpoints, tmp_path):
    label = write(tmp_path / 'maps' / 'scene.png', blocks(range(12)))
    batch_sizes = []
    original = Synthesizer.generate
    monkeypatch.setattr(Synthesizer, 'generate', lambda self, semantics, z=None, **kwargs: (
        batch_sizes.append(semantics.size(0)), original(self, semantics, z, **kwargs))[1])
    synthesize(monkeypatch, checkpoints, '--name', 'vae', '--labels', label, '--seeds', '0-2,7', '--out',
               str(tmp_path / 'many'))
    # One style per forward pass by default: batch sizes change float rounding, so a batch of one is what makes
    # an image independent of the others.
    assert batch_sizes == [1, 1, 1, 1]
    synthesize(monkeypatch, checkpoints, '--name', 'vae', '--labels', label, '--seeds', '1', '--out',
               str(tmp_path / 'one'))
    names = sorted(f for f in os.listdir(tmp_path / 'many') if f.endswith('.png'))
    assert names == ['scene_seed0.png', 'scene_seed1.png', 'scene_seed2.png', 'scene_seed7.png']
    assert np.array_equal(pixels(tmp_path / 'many' / 'scene_seed1.png'), pixels(tmp_path / 'one' / 'scene_seed1.png'))
    assert not np.array_equal(pixels(tmp_path / 'many' / 'scene_seed0.png'),
                              pixels(tmp_path / 'many' / 'scene_seed1.png'))
    assert pixels(tmp_path / 'many' / 'scene_seed0.png').shape == (64, 64, 3)
    page = (tmp_path / 'many' / 'index.html').read_text()
    assert 'labels/scene.png' in page and 'scene_seed7.png' in page


def test_seed_style_is_its_own_random_stream():
    torch.manual_seed(123)
    a = seed_style(5, 8)
    torch.rand(100)
    assert torch.equal(a, seed_style(5, 8)) and not torch.equal(a, seed_style(6, 8))
    assert parse_seeds('0-3,7') == [0, 1, 2, 3, 7]
    with pytest.raises(UserError, match='--seeds'):
        parse_seeds('a-b')


def test_grey_map_and_its_colour_rendering_give_the_same_images(monkeypatch, checkpoints, tmp_path):
    labels = label_set('coco', 182, True)
    ids = blocks([0, 5, 90, 181, 255])
    grey = write(tmp_path / 'grey' / 'scene.png', ids)
    synthesize(monkeypatch, checkpoints, '--name', 'coco', '--labels', grey, '--seeds', '3', '--out',
               str(tmp_path / 'a'))
    # The rendered map (palette mode) read back, and the same map as an RGB colour image.
    rendered = tmp_path / 'a' / 'labels' / 'scene.png'
    assert Image.open(rendered).mode == 'P' and np.array_equal(pixels(rendered), ids)
    colour = write(tmp_path / 'colour' / 'scene.png', Image.open(rendered).convert('RGB'))
    assert np.array_equal(pixels(colour)[0, 0], labels.file_palette()[ids[0, 0]])
    synthesize(monkeypatch, checkpoints, '--name', 'coco', '--labels', colour, '--seeds', '3', '--out',
               str(tmp_path / 'b'))
    synthesize(monkeypatch, checkpoints, '--name', 'coco', '--labels', str(rendered), '--seeds', '3', '--out',
               str(tmp_path / 'c'))
    for other in ('b', 'c'):
        assert np.array_equal(pixels(tmp_path / 'a' / 'scene_seed3.png'), pixels(tmp_path / other / 'scene_seed3.png'))


def test_style_photo_is_deterministic_and_changes_the_image(monkeypatch, checkpoints, tmp_path):
    label = write(tmp_path / 'maps' / 'scene.png', blocks(range(12)))
    rng = np.random.default_rng(0)
    photos = [write(tmp_path / f'photo{i}.jpg',
                    rng.integers(0, 256, (80 + 10 * i, 50, 3), dtype=np.uint8)) for i in (0, 1)]
    for run, photo in (('a', photos[0]), ('b', photos[0]), ('c', photos[1])):
        synthesize(monkeypatch, checkpoints, '--name', 'vae', '--labels', label, '--style_image', photo,
                   '--out', str(tmp_path / run))
    a, b = pixels(tmp_path / 'a' / 'scene_photo0.png'), pixels(tmp_path / 'b' / 'scene_photo0.png')
    assert np.array_equal(a, b)
    assert not np.array_equal(a, pixels(tmp_path / 'c' / 'scene_photo1.png'))


def test_no_instance_map_is_the_label_map_as_its_own_instance_map(monkeypatch, checkpoints, tmp_path):
    ids = blocks(range(12))
    label = write(tmp_path / 'maps' / 'scene.png', ids)
    instance = write(tmp_path / 'inst' / 'scene.png', ids)
    synthesize(monkeypatch, checkpoints, '--name', 'vae', '--labels', label, '--out', str(tmp_path / 'a'))
    synthesize(monkeypatch, checkpoints, '--name', 'vae', '--labels', label, '--instances', instance, '--out',
               str(tmp_path / 'b'))
    assert np.array_equal(pixels(tmp_path / 'a' / 'scene_seed0.png'), pixels(tmp_path / 'b' / 'scene_seed0.png'))
    # A different instance map (one object split in two) changes the image.
    split = ids.astype(np.uint16) * 10
    split[:, 32:] += 1
    write(tmp_path / 'inst2' / 'scene.png', split)
    synthesize(monkeypatch, checkpoints, '--name', 'vae', '--labels', label, '--instances', str(tmp_path / 'inst2'),
               '--out', str(tmp_path / 'c'))
    assert not np.array_equal(pixels(tmp_path / 'a' / 'scene_seed0.png'), pixels(tmp_path / 'c' / 'scene_seed0.png'))


def test_a_folder_of_label_maps_of_several_sizes(monkeypatch, checkpoints, tmp_path):
    for i, size in enumerate([(64, 64), (100, 50), (30, 47)]):
        write(tmp_path / 'maps' / f'map{i}.png', blocks(range(12), size=size, seed=i))
    synthesize(monkeypatch, checkpoints, '--name', 'vae', '--labels', str(tmp_path / 'maps'), '--seeds', '0,1',
               '--out', str(tmp_path / 'out'))
    for i in range(3):
        for seed in (0, 1):
            assert pixels(tmp_path / 'out' / f'map{i}_seed{seed}.png').shape == (64, 64, 3)
        assert pixels(tmp_path / 'out' / 'labels' / f'map{i}.png').shape == (64, 64)


def test_model_without_vae_makes_one_image_and_refuses_a_style(monkeypatch, checkpoints, tmp_path, capsys):
    label = write(tmp_path / 'maps' / 'scene.png', blocks(range(12)))
    synthesize(monkeypatch, checkpoints, '--name', 'plain', '--labels', label, '--out', str(tmp_path / 'out'))
    assert sorted(f for f in os.listdir(tmp_path / 'out') if f.endswith('.png')) == ['scene.png']
    capsys.readouterr()
    for option in (['--seeds', '1'], ['--style_image', label]):
        with pytest.raises(SystemExit) as info:
            synthesize(monkeypatch, checkpoints, '--name', 'plain', '--labels', label, *option, '--out',
                       str(tmp_path / 'x'))
        assert info.value.code == 1
        message = capsys.readouterr().err.strip().splitlines()
        assert len(message) == 1 and option[0] in message[0] and '--use_vae' in message[0]
    assert not (tmp_path / 'x').exists()


def test_list_classes(monkeypatch, checkpoints, capsys):
    synthesize(monkeypatch, checkpoints, '--name', 'coco', '--list_classes')
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 183
    assert lines[0].split()[:2] == ['0', 'person'] and lines[-1].split()[:2] == ['255', 'unlabeled']


def assert_fails_with(monkeypatch, capsys, checkpoints, out, *args, expect=()) -> str:
    with pytest.raises(SystemExit) as info:
        synthesize(monkeypatch, checkpoints, *args, '--out', str(out))
    assert info.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), lines
    for text in expect:
        assert text in lines[0], (text, lines[0])
    assert not out.exists()  # nothing written
    return lines[0]


def test_bad_inputs_give_one_line_and_write_nothing(monkeypatch, checkpoints, tmp_path, capsys):
    out = tmp_path / 'out'
    fail = lambda *args, expect=(): assert_fails_with(monkeypatch, capsys, checkpoints, out, *args, expect=expect)
    good = write(tmp_path / 'good' / 'a.png', blocks(range(12)))
    # a class id the model does not have
    bad_id = write(tmp_path / 'bad_id' / 'c.png', blocks([3, 40]))
    fail('--name', 'vae', '--labels', good, bad_id, expect=(bad_id, 'class id 40', '12 classes'))
    # two label maps of one name
    fail('--name', 'vae', '--labels', good, write(tmp_path / 'other' / 'a.png', blocks([1])), expect=('named a',))
    # a colour that is not in the palette: named, with its pixel count and the nearest class
    colour = np.array(Image.open(render_path(tmp_path, label_set('coco', 182, True))).convert('RGB'))
    colour[:10, :5] = (250, 3, 3)
    off = write(tmp_path / 'off' / 'a.png', colour)
    fail('--name', 'coco', '--labels', off, expect=(off, '(250, 3, 3)', '50 pixels', 'nearest class'))
    # unreadable and truncated files
    junk = tmp_path / 'junk' / 'a.png'
    junk.parent.mkdir()
    junk.write_bytes(b'not an image')
    fail('--name', 'vae', '--labels', str(junk), expect=(str(junk), 'not a readable image'))
    truncated = tmp_path / 'trunc' / 'a.png'
    truncated.parent.mkdir()
    truncated.write_bytes(open(good, 'rb').read()[:60])
    fail('--name', 'vae', '--labels', str(truncated), expect=(str(truncated), 'truncated'))
    # instance maps for some label maps only
    second = write(tmp_path / 'good' / 'b.png', blocks(range(12), seed=1))
    instance = write(tmp_path / 'inst' / 'a.png', blocks(range(12)))
    fail('--name', 'vae', '--labels', good, second, '--instances', instance,
         expect=('--instances', 'b', 'give one for every'))
    # a folder without images, and a path that does not exist
    (tmp_path / 'empty').mkdir()
    fail('--name', 'vae', '--labels', str(tmp_path / 'empty'), expect=('holds no images',))
    fail('--name', 'vae', '--labels', str(tmp_path / 'nowhere.png'), expect=('no such file',))
    # a folder of a model trained elsewhere, without opt.json: the presets are named
    fail('--name', 'released', '--labels', good, expect=('networks.json', '--preset'))
    # a preset whose architecture the checkpoint does not have: the mismatch message
    os.makedirs(os.path.join(checkpoints, 'wrong'), exist_ok=True)
    for label in 'GE':
        os.replace(os.path.join(checkpoints, 'vae', f'latest_net_{label}.pth'),
                   os.path.join(checkpoints, 'wrong', f'latest_net_{label}.pth'))
    try:
        fail('--name', 'wrong', '--preset', 'cityscapes', '--labels', good,
             expect=('built with other options', 'latest_net_G.pth'))
    finally:
        for label in 'GE':
            os.replace(os.path.join(checkpoints, 'wrong', f'latest_net_{label}.pth'),
                       os.path.join(checkpoints, 'vae', f'latest_net_{label}.pth'))


def render_path(tmp_path, labels) -> str:
    """A COCO label map rendered in the palette (palette-mode PNG)."""
    path = str(tmp_path / 'rendered.png')
    render_label_map(torch.from_numpy(blocks([0, 5, 90]).astype(np.float32))[None], labels).save(path)
    return path


def test_read_label_map_maps_dont_care_and_resizes_nearest(tmp_path):
    labels = label_set('coco', 182, True)
    ids = np.array([[0, 255], [181, 7]], dtype=np.uint8)
    path = write(tmp_path / 'm.png', ids)
    channels = read_label_map(path, labels, (4, 2))
    assert channels.tolist() == [[[0, 0, 182, 182], [181, 181, 7, 7]]]


def test_a_run_folder_rebuilds_its_networks_from_networks_json_alone(checkpoints, monkeypatch, tmp_path):
    """networks.json beside the checkpoints: Synthesizer.from_pretrained builds G and E from it, without the option
    system, and synthesizes what the model of the run's opt.json does (a run trained before runs kept a spec)."""
    spec = json.load(open(os.path.join(checkpoints, 'vae', 'networks.json')))
    assert spec['format'] == 'cc-fpse model 2'
    assert spec['inputs'] == {'dataset_mode': 'synthetic', 'label_nc': 12, 'contain_dontcare_label': False,
                              'no_instance': False, 'crop_size': 64, 'aspect_ratio': 1.0}
    assert spec['style'] == {'use_vae': True, 'z_dim': 256} and spec['provenance']['epoch'] == 'latest'
    networks = spec['networks']
    assert (networks['G']['name'], networks['G']['class']) == ('condconv', 'CondConvGenerator')
    assert networks['E']['class'] == 'ConvEncoder' and networks['D']['class'] == 'FPSEDiscriminator'
    assert networks['G']['arguments']['semantic_nc'] == 13
    assert not {'sync_bn', 'depthconv_impl', 'predictor_impl', 'memory_format', 'checkpoint_predictors'} & \
        set(networks['G']['arguments'])  # how it computes is not what it is
    import shutil
    shutil.copytree(os.path.join(checkpoints, 'vae'), tmp_path / 'vae')
    os.remove(tmp_path / 'vae' / 'networks.json')
    from_options = Synthesizer.from_pretrained(str(tmp_path / 'vae'))
    import options.test_options
    monkeypatch.setattr(options.test_options.TestOptions, 'parse', lambda *a, **k: pytest.fail('options parsed'))
    synthesizer = Synthesizer.from_pretrained(os.path.join(checkpoints, 'vae'))
    assert synthesizer.size == (64, 64) and synthesizer.labels.names[0] == 'sky' and synthesizer.takes_code
    label = torch.from_numpy(blocks(range(12))).long()[None, None]
    z = synthesizer.styles_from_seeds([3])
    assert torch.equal(synthesizer.generate(synthesizer.semantics(label), z),
                       from_options.generate(from_options.semantics(label), z))


def test_a_run_folder_of_the_first_networks_json_format_still_loads(checkpoints, tmp_path):
    """Runs trained before the model spec wrote {'format': 'cc-fpse networks 1', 'inputs', 'G', 'E', 'D'}, with the
    runtime arguments among G's: they load, and synthesize the same images."""
    import shutil
    folder = tmp_path / 'ck'
    shutil.copytree(checkpoints, folder)
    spec = json.load(open(folder / 'vae' / 'networks.json'))
    inputs = {k: spec['inputs'][k] for k in ('dataset_mode', 'label_nc', 'contain_dontcare_label', 'no_instance')}
    legacy_g = {'class': 'CondConvGenerator', 'arguments': {**spec['networks']['G']['arguments'],
                                                              'depthconv_impl': 'lean', 'memory_format': 'auto'}}
    legacy = {'format': 'cc-fpse networks 1', 'inputs': inputs, 'G': legacy_g, 'E': spec['networks']['E']}
    (folder / 'vae' / 'networks.json').write_text(json.dumps(legacy))
    old = Synthesizer.from_pretrained(str(folder / 'vae'))
    new = Synthesizer.from_pretrained(os.path.join(checkpoints, 'vae'))
    label = torch.from_numpy(blocks(range(12))).long()[None, None]
    z = new.styles_from_seeds([1])
    assert torch.equal(old.generate(old.semantics(label), z), new.generate(new.semantics(label), z))


def test_non_finite_images_stop_with_the_checkpoint_named(checkpoints):
    synthesizer = Synthesizer.from_pretrained(os.path.join(checkpoints, 'vae'))
    with torch.no_grad():
        synthesizer.netG.conv_img.bias.fill_(float('nan'))
    label = torch.zeros(1, 1, 64, 64)
    with pytest.raises(UserError, match='latest_net_G.pth generates non-finite'):
        synthesizer.generate(synthesizer.semantics(label), synthesizer.styles_from_seeds([0]))


# A full-size forward costs seconds; these released layouts are synthesized at full size by other tests
# (test_readme: the COCO generator; scripts/test_ade.sh in test_pipeline; test_pretrained: SPADE's COCO
# generator, converted), so here they are loaded (strictly) and sized only.
SYNTHESIZED_ELSEWHERE = {'coco', 'ade20k', 'spade_coco', 'oasis_ade20k', 'oasis_coco'}


# SDM's released files are 2.6 GB: their presets' layouts and size are checked on the meta device (test_sdm.py).
SIZED_ON_META = {'sdm_ade20k', 'sdm_celeba'}


@pytest.mark.slow
@pytest.mark.parametrize('preset', [name for name in preset_names() if name not in SIZED_ON_META])
def test_each_preset_loads_the_released_layout_and_synthesizes(preset, tmp_path, monkeypatch):
    """checkpoints/<name>/ as released: <epoch>_net_{G,E}.pth and no opt.json; OASIS's models/<epoch>_EMA.pth."""
    family, _, dataset = preset.rpartition('_')
    layout = {'spade': spade_layout, 'oasis': oasis_layout, '': released_layout}[family]()[dataset]
    folder = tmp_path / 'checkpoints' / 'released'
    files = {'G': 'models/100_EMA.pth'} if family == 'oasis' else \
        {label: f'100_net_{label}.pth' for label in ('G' if family == 'spade' else 'GE')}
    torch.manual_seed(0)
    for label, name in files.items():
        os.makedirs((folder / name).parent, exist_ok=True)
        torch.save(random_state(layout[f'net{label}']), folder / name)
    synthesizer = Synthesizer.from_pretrained(str(tmp_path / 'checkpoints' / 'released'), '100', preset=preset)
    assert synthesizer.takes_code != (family == 'spade') and synthesizer.encodes_photos == (family == '')
    width, height = synthesizer.size
    assert (width, height) == ((512, 256) if preset.endswith('cityscapes') else (256, 256))
    if preset in SYNTHESIZED_ELSEWHERE:
        return
    label = torch.zeros(1, 1, height, width)
    label[..., width // 2:] = 1
    images = synthesizer.generate(synthesizer.semantics(label),
                                  synthesizer.styles_from_seeds([0]) if synthesizer.takes_code else None)
    assert images.shape == (1, 3, height, width) and torch.isfinite(images).all()


def test_a_rerun_skips_what_is_written_and_a_changed_job_starts_over(checkpoints, tmp_path, monkeypatch):
    """manifest.json records the model's files (SHA-256), the options and the label maps: a killed job's rerun
    makes only the missing images; another model or other seeds rewrite everything."""
    import shutil
    maps = tmp_path / 'maps'
    for index in range(3):
        write(maps / f'm{index}.png', blocks(range(12), seed=index))
    calls = []
    real_generate = Synthesizer.generate
    monkeypatch.setattr(Synthesizer, 'generate', lambda self, *a, **k: calls.append(1) or real_generate(self, *a, **k))
    out = tmp_path / 'out'
    job = ['--name', 'vae', '--labels', str(maps), '--seeds', '0-1', '--out', str(out)]
    synthesize(monkeypatch, checkpoints, *job)
    assert len(calls) == 6 and (out / 'manifest.json').is_file()
    first = {f: (out / f).read_bytes() for f in os.listdir(out) if f.endswith('.png')}
    (out / 'm1_seed0.png').unlink()  # as a job killed before it wrote this image
    calls.clear()
    synthesize(monkeypatch, checkpoints, *job)
    assert len(calls) == 2  # m1's two seeds only
    assert {f: (out / f).read_bytes() for f in first} == first
    calls.clear()
    synthesize(monkeypatch, checkpoints, *job[:-4], '--seeds', '0-2', '--out', str(out))
    assert len(calls) == 9  # other seeds: everything again
    other = tmp_path / 'ck'
    shutil.copytree(checkpoints, other)
    state = torch.load(other / 'vae' / 'latest_net_G.pth', weights_only=True)
    torch.save({k: v * 1.01 if v.is_floating_point() else v for k, v in state.items()},
               other / 'vae' / 'latest_net_G.pth')
    calls.clear()
    synthesize(monkeypatch, str(other), *job[:-4], '--seeds', '0-2', '--out', str(out))
    assert len(calls) == 9  # another model: everything again
    synthesize(monkeypatch, str(other), *job[:-4], '--seeds', '1-2', '--out', str(out))
    # the seed the new job does not make is gone with the old job's files; only this job's remain
    assert sorted(f for f in os.listdir(out) if f.endswith('.png')) == [f'm{i}_seed{s}.png' for i in range(3)
                                                                          for s in (1, 2)]
