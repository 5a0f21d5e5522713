"""The protocol's segmenters: the published files' layout, strict loading, each repository's preprocessing, the
output contract, and where the weights come from."""
import os

import pytest
import torch

from models.segmenters import build_segmenter, load_segmenter, segmenter_names
from models.segmenters.drn import bilinear_upsampling_kernel
from models.segmenters.upernet import csail_test_size
from segmenter_files import SYNC_BN_EXTRAS, published_layouts, write_published_files
from util.errors import UserError

FILE_MODULE = {'encoder_epoch_50.pth': 'encoder', 'decoder_epoch_50.pth': 'decoder'}


@pytest.mark.parametrize('name', segmenter_names())
def test_names_and_shapes_equal_the_published_files(name):
    with torch.device('meta'):
        net = build_segmenter(name)
    for filename, layout in published_layouts()[name].items():
        module = net.get_submodule(FILE_MODULE.get(filename, ''))
        ours = {k: list(v.shape) for k, v in module.state_dict().items()}
        theirs = {k: v for k, v in layout.items() if not k.endswith(SYNC_BN_EXTRAS)}
        assert ours == theirs, filename


def test_parameter_counts():
    with torch.device('meta'):
        counts = {name: sum(p.numel() for p in build_segmenter(name).parameters()) for name in segmenter_names()}
    assert counts == {'deeplabv2_cocostuff': 55_919_384, 'upernet101_ade20k': 83_214_422,
                      'drn_d_105_cityscapes': 54_302_915}


@pytest.mark.slow
@pytest.mark.parametrize('name', segmenter_names())
def test_published_files_load_strictly_and_mismatches_are_named(name, tmp_path):
    weights = write_published_files(name, str(tmp_path / 'good'), predicted_class=3)
    net = load_segmenter(name, weights)
    assert not net.training and all(not p.requires_grad for p in net.parameters())
    # A file of another segmenter is named as such, with the keys that differ.
    other = next(n for n in segmenter_names() if n != name and len(published_layouts()[n]) == 1)
    wrong = write_published_files(other, str(tmp_path / 'other'))
    if os.path.isdir(weights):  # UPerNet takes a folder: put the wrong file under the expected name
        os.replace(wrong, os.path.join(weights, 'decoder_epoch_50.pth'))
        wrong = weights
    with pytest.raises(UserError, match=r'is not .*\.pth of ' + name + r'.*(missing in file|not in model)'):
        load_segmenter(name, wrong)


@pytest.mark.slow
def test_files_without_batch_count_load_and_an_extra_key_is_caught(tmp_path):
    path = write_published_files('drn_d_105_cityscapes', str(tmp_path))
    state = torch.load(path, weights_only=True)
    torch.save({k: v for k, v in state.items() if not k.endswith('num_batches_tracked')}, path)
    load_segmenter('drn_d_105_cityscapes', path)  # files saved by torch < 0.4.1 have no batch counts
    torch.save({**state, 'base.0.1._tmp_running_mean': torch.zeros(16)}, path)  # only CSAIL's files may carry these
    with pytest.raises(UserError, match=r'not in model: 1 \[base\.0\.1\._tmp_running_mean\]'):
        load_segmenter('drn_d_105_cityscapes', path)


def test_truncated_file_and_missing_file(tmp_path):
    path = write_published_files('drn_d_105_cityscapes', str(tmp_path))
    with open(path, 'r+b') as f:
        f.truncate(1000)
    with pytest.raises(UserError, match='drn-d-105_ms_cityscapes.pth is not a readable checkpoint'):
        load_segmenter('drn_d_105_cityscapes', path)
    with pytest.raises(UserError, match='holds no encoder_epoch_50.pth, decoder_epoch_50.pth'):
        load_segmenter('upernet101_ade20k', str(tmp_path))
    with pytest.raises(UserError, match='is a file, but this segmenter has 2'):
        load_segmenter('upernet101_ade20k', path)


def test_offline_download_names_the_url_the_file_and_the_option(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path / 'hub'))

    def no_network(url, dst, *args, **kwargs):
        raise OSError('Name or service not known')
    monkeypatch.setattr(torch.hub, 'download_url_to_file', no_network)
    with pytest.raises(UserError) as error:
        load_segmenter('deeplabv2_cocostuff')
    message = str(error.value)
    assert ('https://github.com/kazuto1011/deeplab-pytorch/releases/download/v1.0/'
            'deeplabv2_resnet101_msc-cocostuff164k-100000.pth') in message
    assert '--segmenter_weights' in message and '\n' not in message
    with pytest.raises(UserError,
                       match=r'drn-d-105_ms_cityscapes.pth .*no direct download link.*go.yf.io.*--segmenter_weights'):
        load_segmenter('drn_d_105_cityscapes')
    # A file already in the hub cache is used without a download.
    write_published_files('drn_d_105_cityscapes', str(tmp_path / 'hub' / 'checkpoints'))
    load_segmenter('drn_d_105_cityscapes')


def _first_conv_input(net, conv, images):
    seen = {}
    handle = conv.register_forward_pre_hook(lambda module, args: seen.setdefault('x', args[0].clone()))
    with torch.no_grad():
        net(images)
    handle.remove()
    return seen['x']


def test_each_repository_preprocessing():
    # One pixel colour, (R, G, B) = (255, 0, 51) as our [-1, 1] tensor.
    rgb = torch.tensor([255.0, 0.0, 51.0])
    images = (rgb / 127.5 - 1).view(1, 3, 1, 1).expand(1, 3, 16, 16).contiguous()
    deeplab = build_segmenter('deeplabv2_cocostuff').eval()
    x = _first_conv_input(deeplab, deeplab.base.layer1.conv1.conv, images)
    # BGR, 0..255, minus Caffe's BGR mean (kazuto1011's cocostuff config).
    assert torch.allclose(x[0, :, 0, 0], torch.tensor([51 - 104.008, 0 - 116.669, 255 - 122.675]), atol=1e-4)
    upernet = build_segmenter('upernet101_ade20k').eval()
    x = _first_conv_input(upernet, upernet.encoder.conv1, images)
    expected = torch.tensor([(1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (0.2 - 0.406) / 0.225])
    assert torch.allclose(x[0, :, 0, 0], expected, atol=1e-5)
    drn = build_segmenter('drn_d_105_cityscapes').eval()
    x = _first_conv_input(drn, drn.base[0][0], images)
    expected = torch.tensor([(1 - 0.29010095) / 0.18295405, (0 - 0.32808145) / 0.18656561,
                             (0.2 - 0.28696394) / 0.18447509])
    assert torch.allclose(x[0, :, 0, 0], expected, atol=1e-5)


@pytest.mark.parametrize('name,classes,size',
                         [('deeplabv2_cocostuff', 182, (40, 24)), ('upernet101_ade20k', 150, (40, 24)),
                                               ('drn_d_105_cityscapes', 19, (48, 24))])
def test_output_is_probabilities_at_the_input_size(name, classes, size):
    torch.manual_seed(0)
    net = build_segmenter(name).eval()
    with torch.no_grad():
        probs = net(torch.rand(2, 3, size[1], size[0]) * 2 - 1)
    assert probs.shape == (2, classes, size[1], size[0]) and probs.dtype == torch.float32
    assert torch.allclose(probs.sum(1), torch.ones(2, size[1], size[0]), atol=1e-5) and (probs >= 0).all()


def test_drn_upsampling_kernel_and_csail_test_sizes():
    kernel = bilinear_upsampling_kernel(2, 16)
    # fill_up_weights: f = 8, c = 15 / 16, tap i = 1 - |i / 8 - c|
    taps = torch.tensor([1 - abs(i / 8 - 15 / 16) for i in range(16)])
    assert torch.equal(kernel[1, 0], taps[:, None] * taps[None, :]) and kernel.shape == (2, 1, 16, 16)
    assert taps[0] == 0.0625 and taps[7] == taps[8] == 0.9375
    assert csail_test_size(256, 256, 300) == (320, 320)  # 300 rounded up to a multiple of 32
    assert csail_test_size(256, 512, 600) == (1024, 512)  # long side capped at 1000, then rounded up
