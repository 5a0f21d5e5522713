"""A model that leaves the repository: model folders (config.json + safetensors), Synthesizer.from_pretrained from a
folder, a run folder or a Hugging Face Hub cache (offline), --model in every command, torch.hub, ONNX and
torch.export; converted and original checkpoints give byte-identical images."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import ENV, ROOT, load_script, run_script, save_trained_looking_model
from models.synthesizer import Synthesizer
from util.errors import UserError

HUB_COMMIT = '0123456789abcdef0123456789abcdef01234567'


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    """A VAE run folder (synthetic classes) and its converted model folder."""
    root = tmp_path_factory.mktemp('pretrained')
    save_trained_looking_model(str(root / 'ck'), 'vae', ['--dataset_mode', 'synthetic', '--use_vae'])
    result = run_script('scripts/convert_checkpoint.py', '--name', 'vae', '--checkpoints_dir', str(root / 'ck'),
                        '--out', str(root / 'model'))
    assert result.returncode == 0, result.stderr
    maps = root / 'maps'
    maps.mkdir()
    rng = np.random.default_rng(0)
    for k in range(2):
        grid = rng.integers(0, 12, (4, 5)).astype(np.uint8)
        Image.fromarray(np.kron(grid, np.ones((12, 12), dtype=np.uint8))).save(maps / f'map{k}.png')
    return root


def png_bytes(folder) -> dict:
    return {f: open(os.path.join(folder, f), 'rb').read() for f in sorted(os.listdir(folder)) if f.endswith('.png')}


def synthesize(out, *model_args, env=None):
    """synthesize.py on the label maps beside `out` (two maps, seeds 0 and 1): {file: bytes} of the images."""
    args = ['scripts/synthesize.py', *model_args, '--labels', str(out.parent / 'maps'), '--out', str(out),
            '--gpu_ids', '-1', '--seeds', '0-1']
    if env is None:
        result = run_script(*args)
    else:
        result = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return png_bytes(out)


def test_a_generator_built_in_a_notebook_saves_and_loads_back_byte_identically(tmp_path):
    """No options, no run folder: networks from their constructors, described by ModelSpec.describe, saved with
    save_pretrained and read back with from_pretrained, tensor for tensor and file for file; the same images."""
    from models.networks import ConvEncoder, SPADEGenerator
    from models.spec import ModelInputs, ModelSpec
    torch.manual_seed(0)
    netG = SPADEGenerator(semantic_nc=13, ngf=4, crop_size=64, use_vae=True, z_dim=8, norm_G='spectralspadebatch3x3')
    netE = ConvEncoder(ngf=4, crop_size=64, z_dim=8)
    with torch.no_grad():  # a training-mode pass: batch-norm statistics and spectral-norm vectors of its own
        netG(torch.rand(2, 13, 64, 64), z=torch.randn(2, 8))
    spec = ModelSpec.describe(ModelInputs('synthetic', 12, False, False), G=netG.eval(), E=netE.eval())
    assert (spec.inputs.crop_size, spec.inputs.aspect_ratio, spec.z_dim, spec.use_vae) == (64, 1.0, 8, True)
    Synthesizer(netG, netE, spec).save_pretrained(str(tmp_path / 'notebook'))
    loaded = Synthesizer.from_pretrained(str(tmp_path / 'notebook'))
    for saved, back in ((netG, loaded.netG), (netE, loaded.netE)):
        assert type(back) is type(saved) and back.description == saved.description
        assert saved.state_dict().keys() == back.state_dict().keys()
        assert all(torch.equal(saved.state_dict()[k], v) for k, v in back.state_dict().items())
    loaded.save_pretrained(str(tmp_path / 'again'))
    for name in ('config.json', 'G.safetensors', 'E.safetensors'):
        assert (tmp_path / 'notebook' / name).read_bytes() == (tmp_path / 'again' / name).read_bytes(), name
    label = torch.randint(0, 12, (1, 64, 64))
    z = loaded.styles_from_seeds([5])
    direct = Synthesizer(netG, netE, spec)
    assert torch.equal(direct.generate(direct.semantics(label), z), loaded.generate(loaded.semantics(label), z))


def test_the_model_folder_holds_the_spec_the_weights_and_a_card(run):
    folder = run / 'model'
    assert sorted(os.listdir(folder)) == ['E.safetensors', 'G.safetensors', 'README.md', 'config.json']
    config = json.loads((folder / 'config.json').read_text())
    assert sorted(config['networks']) == ['E', 'G'] and config['format'] == 'cc-fpse model 2'
    assert config['provenance']['generator_weights'] == 'G' and 'vae' in config['provenance']['converted_from']
    from safetensors.torch import load_file
    original = torch.load(run / 'ck' / 'vae' / 'latest_net_G.pth', weights_only=True)
    converted = load_file(str(folder / 'G.safetensors'))
    assert converted.keys() == original.keys() and all(torch.equal(converted[k], original[k]) for k in original)
    card = (folder / 'README.md').read_text()
    assert 'CondConvGenerator' in card and '0: sky' in card and 'Not evaluated' in card
    assert "Synthesizer.from_pretrained('" in card


def test_converted_and_original_give_byte_identical_images_in_every_command(run, tmp_path):
    shutil.copytree(run / 'maps', tmp_path / 'maps')
    from_run = synthesize(tmp_path / 'a', '--name', 'vae', '--checkpoints_dir', str(run / 'ck'))
    assert len(from_run) == 4
    assert synthesize(tmp_path / 'b', '--model', str(run / 'model')) == from_run
    assert synthesize(tmp_path / 'c', '--model', str(run / 'ck' / 'vae')) == from_run  # a run folder
    results = {}
    for kind, model_args in (('name', ['--name', 'vae', '--checkpoints_dir', str(run / 'ck')]),
                             ('model', ['--model', str(run / 'model')])):
        result = run_script('test.py', *model_args, '--how_many', '3', '--batchSize', '2', '--results_dir',
                            str(tmp_path / kind), '--gpu_ids', '-1')
        assert result.returncode == 0, result.stderr[-3000:]
        results[kind] = tmp_path / kind
    images = {kind: {os.path.relpath(os.path.join(r, f), folder): open(os.path.join(r, f), 'rb').read()
                     for r, _, names in os.walk(folder) for f in names if f.endswith('.png')}
              for kind, folder in results.items()}
    # The results folder is named after the model folder (results/model/test_latest) unless --name is given.
    assert {k.replace('vae/', 'model/') for k in images['name']} == set(images['model'])
    assert sorted(images['name'].values()) == sorted(images['model'].values()) and len(images['model']) == 12
    from_api = Synthesizer.from_pretrained(str(run / 'model'))
    assert from_api.model_files[0].endswith('G.safetensors') and from_api.takes_code


def write_hub_cache(hf_home, repo_id, folder) -> None:
    """A repository in the Hugging Face cache as huggingface_hub lays it out (blobs, refs/main, snapshots)."""
    repo = hf_home / 'hub' / f'models--{repo_id.replace("/", "--")}'
    (repo / 'refs').mkdir(parents=True)
    (repo / 'refs' / 'main').write_text(HUB_COMMIT)
    (repo / 'blobs').mkdir()
    snapshot = repo / 'snapshots' / HUB_COMMIT
    snapshot.mkdir(parents=True)
    for name in os.listdir(folder):
        blob = repo / 'blobs' / f'blob_{name}'
        shutil.copy(os.path.join(folder, name), blob)
        os.symlink(os.path.relpath(blob, snapshot), snapshot / name)


@pytest.mark.slow  # two processes of their own (huggingface_hub reads HF_HOME when it is imported)
def test_a_hub_id_is_read_from_the_cache_offline(run, tmp_path):
    shutil.copytree(run / 'maps', tmp_path / 'maps')
    write_hub_cache(tmp_path / 'hf', 'someone/ccfpse-toy', run / 'model')
    env = {**ENV, 'HF_HOME': str(tmp_path / 'hf'), 'HF_HUB_OFFLINE': '1'}
    # both in processes of their own: one thread each, so the same summation order (in this process, the test
    # session's thread count decides it)
    expected = synthesize(tmp_path / 'local', '--model', str(run / 'model'), env=ENV)
    assert synthesize(tmp_path / 'hub', '--model', 'someone/ccfpse-toy', env=env) == expected
    missing = subprocess.run([sys.executable, 'scripts/synthesize.py', '--model', 'someone/absent', '--labels',
                              str(tmp_path / 'maps'), '--out', str(tmp_path / 'none'), '--gpu_ids', '-1'],
                             cwd=ROOT, capture_output=True, text=True, env=env)
    lines = missing.stderr.strip().splitlines()
    assert missing.returncode == 1 and len(lines) == 1 and 'hf download someone/absent' in lines[0], missing.stderr
    assert str(tmp_path / 'hf' / 'hub') in lines[0] and not (tmp_path / 'none').exists()


def test_push_to_hub_uploads_the_written_folder(run, tmp_path, monkeypatch):
    calls = []

    class FakeApi:
        def create_repo(self, repo_id, private, exist_ok):
            calls.append(('create', repo_id, private))

        def upload_folder(self, folder_path, repo_id, commit_message):
            calls.append(('upload', repo_id, sorted(os.listdir(folder_path))))

    import huggingface_hub
    monkeypatch.setattr(huggingface_hub, 'HfApi', FakeApi)
    result = run_script('scripts/convert_checkpoint.py', '--name', 'vae', '--checkpoints_dir', str(run / 'ck'),
                        '--out', str(tmp_path / 'm'), '--push_to_hub', 'someone/ccfpse-toy')
    assert result.returncode == 0, result.stderr
    assert calls == [('create', 'someone/ccfpse-toy', False),
                     ('upload', 'someone/ccfpse-toy', ['E.safetensors', 'G.safetensors', 'README.md', 'config.json'])]
    assert "from_pretrained('someone/ccfpse-toy')" in (tmp_path / 'm' / 'README.md').read_text()


def test_torch_hub_entry_points(tmp_path):
    """The released COCO preset through torch.hub (with small widths, so that random weights are quick to write)."""
    small = {'ngf': 4, 'predictor_nc': 16, 'crop_size': 64}
    save_trained_looking_model(str(tmp_path / 'ck'), 'coco_released',
                               ['--dataset_mode', 'coco', '--use_vae', '--crop_size', '64'])
    hub = torch.hub.load(ROOT, 'ccfpse_coco', source='local',
                         weights=str(tmp_path / 'ck' / 'coco_released' / 'latest_net_G.pth'),
                         **small)
    direct = Synthesizer.from_pretrained(str(tmp_path / 'ck' / 'coco_released'))
    assert len(hub.labels) == 183 and hub.size == (64, 64)
    label = torch.randint(0, 183, (1, 1, 64, 64))
    images = [s.generate(s.semantics(label), s.styles_from_seeds([3])) for s in (hub, direct)]
    assert torch.equal(images[0], images[1])
    assert torch.hub.load(ROOT, 'from_pretrained', str(tmp_path / 'ck' / 'coco_released'), source='local').takes_code
    with pytest.raises(UserError, match='pass weights=PATH'):
        torch.hub.load(ROOT, 'ccfpse_coco', source='local')


def one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and lines[0].startswith('error: '), result.stderr
    return lines[0]


def test_bad_model_folders_are_one_line_and_nothing_is_written(run, tmp_path):
    def broken(name, edit):
        folder = tmp_path / name
        shutil.copytree(run / 'model', folder)
        edit(folder)
        return folder

    def config_edit(change):
        def edit(folder):
            config = json.loads((folder / 'config.json').read_text())
            change(config)
            (folder / 'config.json').write_text(json.dumps(config))
        return edit

    other = tmp_path / 'other_ck'
    save_trained_looking_model(str(other), 'plain', ['--dataset_mode', 'synthetic'])
    cases = {
        'no_config': (lambda f: os.remove(f / 'config.json'), 'neither config.json'),
        'unknown_network': (config_edit(lambda c: c['networks']['G'].update({'class': 'NonexistentGenerator'})),
                            'not a registered network'),
        'other_architecture': (lambda f: (f / 'G.safetensors').write_bytes(
            convert_bytes(other / 'plain' / 'latest_net_G.pth')), 'G.safetensors was built with'),
        'truncated': (lambda f: (f / 'G.safetensors').write_bytes((f / 'G.safetensors').read_bytes()[:5000]),
                      'not a readable safetensors'),
    }
    for name, (edit, says) in cases.items():
        folder = broken(name, edit)
        out = tmp_path / f'out_{name}'
        result = run_script('scripts/synthesize.py', '--model', str(folder), '--labels', str(run / 'maps'),
                            '--out', str(out), '--gpu_ids', '-1')
        assert result.returncode == 1, name
        line = one_error_line(result)
        assert says in line, (name, line)
        assert not out.exists(), name
    for args in (['--model', str(tmp_path / 'absent')], ['--model', str(run / 'model'), '--name', 'vae'],
                 ['--model', str(run / 'model'), '--use_ema'], ['--model', str(run / 'model'), '--which_epoch', '5']):
        result = run_script('scripts/synthesize.py', *args, '--labels', str(run / 'maps'), '--out', str(tmp_path / 'x'),
                            '--gpu_ids', '-1')
        assert one_error_line(result) and not (tmp_path / 'x').exists()
    existing = run_script('scripts/convert_checkpoint.py', '--name', 'vae', '--checkpoints_dir', str(run / 'ck'),
                          '--out', str(run / 'model'))
    assert 'add --overwrite' in one_error_line(existing)


def convert_bytes(pth_path) -> bytes:
    from safetensors.torch import save
    return save(torch.load(pth_path, weights_only=True))


@pytest.mark.slow(seconds=30)  # an ONNX export of the generator and the encoder
def test_onnx_export_equals_pytorch(run, tmp_path):
    """ONNX (onnxruntime) within 1e-4 of PyTorch on label maps of the model's classes (measured about 1e-6), so the
    images of synthesize.py --backend onnxruntime are PyTorch's up to a rare step of 1 in 255."""
    shutil.copytree(run / 'maps', tmp_path / 'maps')
    result = run_script('scripts/export.py', '--model', str(run / 'model'), '--out', str(tmp_path / 'onnx'))
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(os.listdir(tmp_path / 'onnx')) == ['config.json', 'encoder.onnx', 'generator.onnx']
    difference = float(result.stdout.split('largest difference to PyTorch: ')[1].split()[0])
    assert difference < 1e-4
    eager = synthesize(tmp_path / 'eager', '--model', str(run / 'model'))
    ort = synthesize(tmp_path / 'ort', '--model', str(tmp_path / 'onnx'), '--backend', 'onnxruntime')
    assert ort.keys() == eager.keys() and len(ort) == 4
    for name in ort:  # 8-bit images: a float difference of 2e-6 can move a pixel across a rounding boundary
        a, b = (np.array(Image.open(tmp_path / kind / name)).astype(int) for kind in ('eager', 'ort'))
        assert np.abs(a - b).max() <= 1 and (a != b).mean() < 0.01
    # Batch size is free: one image and three images through the exported generator.
    from models.exported import OnnxRuntimeNetwork
    synthesizer = Synthesizer.from_pretrained(str(run / 'model'))
    session = OnnxRuntimeNetwork(str(tmp_path / 'onnx' / 'generator.onnx'), torch.device('cpu'))
    for batch in (1, 3):
        label = torch.randint(0, 12, (batch, 1, 64, 64))
        semantics, z = synthesizer.semantics(label), synthesizer.styles_from_seeds(range(batch))
        got = session.run(semantics, z)[0]
        assert got.shape == (batch, 3, 64, 64)
        assert (got - synthesizer.generate(semantics, z)).abs().max() < 1e-4
    # No torch.export programs: torch.export.load can unpickle arbitrary objects, so we neither load nor write them.
    result = run_script('scripts/export.py', '--model', str(run / 'model'), '--format', 'torch_export', '--out',
                        str(tmp_path / 'pt2'))
    assert result.returncode == 2 and "invalid choice: 'torch_export'" in result.stderr


def test_an_export_that_differs_from_pytorch_writes_nothing(run, tmp_path, monkeypatch):
    """The check after an export: a graph whose outputs are off by more than TOLERANCE stops with one line."""
    import models.exported as exported

    class WrongGraph:  # stands for an exported file that computes something else
        def __init__(self, path, device):
            pass

        def run(self, *tensors):
            return [torch.full((1,), 0.5)]

    monkeypatch.setattr(exported, 'export', lambda synthesizer, folder: [])
    monkeypatch.setattr(exported, 'OnnxRuntimeNetwork', WrongGraph)
    result = run_script('scripts/export.py', '--model', str(run / 'model'), '--out', str(tmp_path / 'onnx'))
    line = one_error_line(result)
    assert 'the exported model differs from PyTorch by' in line and 'nothing written' in line
    assert result.returncode == 1 and not (tmp_path / 'onnx').exists() and os.listdir(tmp_path) == []


def test_the_demo_takes_model_as_the_other_commands(run):
    demo = load_script('demo')
    args = demo.build_parser().parse_args(['--model', str(run / 'model'), '--gpu_ids', '-1'])
    synthesizer = demo.synthesizer_from_arguments(args)
    assert [os.path.basename(f) for f in synthesizer.model_files] == ['G.safetensors', 'E.safetensors']


@pytest.mark.slow(seconds=15)  # a full-size released generator
def test_released_files_convert_with_their_preset(tmp_path):
    from helpers import random_state, spade_layout
    folder = tmp_path / 'checkpoints' / 'spade_released'
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(random_state(spade_layout()['coco']['netG']), folder / '100_net_G.pth')
    result = run_script('scripts/convert_checkpoint.py', '--preset', 'spade_coco', '--name', 'spade_released',
                        '--checkpoints_dir', str(tmp_path / 'checkpoints'), '--which_epoch', '100', '--out',
                        str(tmp_path / 'spade_coco'))
    assert result.returncode == 0, result.stderr[-2000:]
    config = json.loads((tmp_path / 'spade_coco' / 'config.json').read_text())
    assert config['networks']['G']['name'] == 'spade' and 'E' not in config['networks']
    assert '(--preset spade_coco)' in config['provenance']['converted_from']
    converted = Synthesizer.from_pretrained(str(tmp_path / 'spade_coco'))
    released = Synthesizer.from_pretrained(str(folder), '100', preset='spade_coco')
    label = torch.zeros(1, 1, 256, 256, dtype=torch.long)
    label[..., 128:] = 5
    assert torch.equal(converted.generate(converted.semantics(label)), released.generate(released.semantics(label)))
