"""Generated hostile inputs (Hypothesis) for every reader of a user's files and every command's parser. The property
is the same for each: the call returns a result or raises the project's one-line UserError (argparse's exit 2 for a
command line) - never another exception, never a hang (Hypothesis' deadline per example) - and the image decoders
stay within a stated memory bound (a subprocess measures its peak).

Budgets (tests/conftest.py): the suite's profile `ci` (a fixed seed and few examples); `python -m pytest -m fuzz
--hypothesis-profile long` for the long run. Every failure found is kept below as a regular test."""
import argparse
import functools
import io
import json
import os
import struct
import subprocess
import sys
import zipfile
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from PIL import Image

from data.classes import label_set
from data.label_maps import read_instance_map, read_label_map, read_photo
from helpers import load_script
from models.sources import read_spec_file
from options.test_options import TestOptions
from options.train_options import TrainOptions
from util.checkpoint import load_safetensors_file
from util.errors import UserError, one_line
from util.user_files import image_header_size, read_json, read_npz

# Pillow warns of what these files are made to be (truncated, huge): the readers' answer is what is tested.
pytestmark = [pytest.mark.fuzz, pytest.mark.filterwarnings('ignore::Warning:PIL.*')]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TMP = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@functools.lru_cache(maxsize=None)
def script(name: str):
    """scripts/<name>.py as a module, loaded once for all the examples."""
    return load_script(name)


def one_line_or_result(call, *args, **kwargs):
    """Run a reader: its result, or None when it raised the one-line UserError (anything else fails the test)."""
    try:
        return call(*args, **kwargs)
    except UserError as exc:
        line = one_line(exc)  # what the command prints
        assert line.strip() and not any(c in line for c in '\n\r\x00'), repr(line)
        return None


def write_bytes(folder, name: str, data: bytes) -> str:
    path = os.path.join(str(folder), name)
    with open(path, 'wb') as f:
        f.write(data)
    return path


# ---- JSON: documents of every shape, written as text (NaN and Infinity included, as Python's json writes them)
json_leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | \
    st.integers(min_value=10 ** 30, max_value=10 ** 300)
json_values = st.recursive(json_leaves, lambda inner: st.lists(inner, max_size=6) |
                           st.dictionaries(st.text(max_size=12), inner, max_size=6), max_leaves=40)
json_texts = json_values.map(json.dumps) | st.text(max_size=200) | \
    st.integers(1, 200_000).map(lambda depth: '[' * depth + ']' * depth) | \
    st.integers(1, 200_000).map(lambda depth: '{"a":' * depth + '1' + '}' * depth)


@TMP
@given(text=json_texts, encoding=st.sampled_from(['utf-8', 'utf-16', 'latin-1']))
def test_read_json_returns_a_value_or_one_line(tmp_path, text, encoding):
    path = write_bytes(tmp_path, 'doc.json', text.encode(encoding, errors='replace'))
    one_line_or_result(read_json, path, 'options file', expect=object)


def preset_spec() -> dict:
    with open(os.path.join(ROOT, 'models', 'methods', 'pix2pix', 'presets', 'cityscapes.json')) as f:
        return json.load(f)


def spec_paths(spec, prefix=()):
    """Every key path of a nested dict."""
    for key, value in spec.items():
        yield prefix + (key,)
        if isinstance(value, dict):
            yield from spec_paths(value, prefix + (key,))


SPEC_PATHS = list(spec_paths(preset_spec()))


@st.composite
def edited_specs(draw) -> dict:
    """A released spec with a few values replaced by generated ones, or removed (a preset edited by hand)."""
    spec = preset_spec()
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(SPEC_PATHS))
        parent = spec
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue
        if draw(st.booleans()):
            parent[path[-1]] = draw(json_values)
        else:
            parent.pop(path[-1], None)
    return spec


@TMP
@given(spec=edited_specs())
def test_model_specs_edited_by_hand_load_or_give_one_line(tmp_path, spec):
    path = write_bytes(tmp_path, 'config.json', json.dumps(spec).encode())
    one_line_or_result(read_spec_file, path)


@pytest.fixture(scope='module')
def saved_run(tmp_path_factory):
    """A training run's opt.json (what test.py and --continue_train read back), and its folder."""
    checkpoints = tmp_path_factory.mktemp('checkpoints')
    options = TrainOptions()
    opt = options.parse(['--dataset_mode', 'synthetic', '--name', 'run', '--checkpoints_dir', str(checkpoints),
                         '--gpu_ids', '-1'], quiet=True)
    options.save_options(opt)
    path = os.path.join(str(checkpoints), 'run', 'opt.json')
    with open(path) as f:
        return str(checkpoints), path, f.read()


@TMP
@given(data=st.data())
def test_saved_options_edited_by_hand_parse_or_give_one_line(saved_run, data):
    checkpoints, path, original = saved_run
    opt = json.loads(original)
    for _ in range(data.draw(st.integers(1, 3))):
        key = data.draw(st.sampled_from(sorted(opt)))
        opt[key] = data.draw(json_values)
    with open(path, 'w') as f:
        json.dump(opt, f)
    try:
        for options, extra in ((TestOptions(), []), (TrainOptions(), ['--continue_train'])):
            try:
                one_line_or_result(options.parse, ['--name', 'run', '--checkpoints_dir', checkpoints, '--gpu_ids',
                                                   '-1', *extra], quiet=True)
            except SystemExit as exc:
                assert exc.code == 2
    finally:
        with open(path, 'w') as f:
            f.write(original)


# ---- Images: valid files of every mode, size and palette, then truncated, corrupted or with a hostile header size
IMAGE_MODES = ['1', 'L', 'P', 'RGB', 'RGBA', 'LA', 'I', 'I;16', 'F', 'CMYK', 'YCbCr', 'PA']


def png_with_size(data: bytes, width: int, height: int) -> bytes:
    """A PNG whose IHDR claims another size (its checksum redone, so that decoders read on)."""
    ihdr = bytearray(data[12:29])
    ihdr[4:12] = struct.pack('>II', width, height)
    return data[:12] + bytes(ihdr) + struct.pack('>I', zlib.crc32(bytes(ihdr))) + data[33:]


@st.composite
def image_files(draw) -> bytes:
    mode = draw(st.sampled_from(IMAGE_MODES))
    width, height = draw(st.integers(1, 48)), draw(st.integers(1, 48))
    fmt = draw(st.sampled_from(['PNG', 'JPEG', 'BMP', 'TIFF', 'GIF', 'WEBP']))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    try:
        img = Image.new(mode, (width, height))
        raw = np.random.default_rng(seed).integers(0, 256, len(img.tobytes()), dtype=np.uint8).tobytes()
        img.frombytes(raw)
        if mode in ('P', 'PA'):
            img.putpalette(np.random.default_rng(seed).integers(0, 256, 3 * draw(st.integers(1, 256)),
                                                                 dtype=np.uint8).tobytes())
        buffer = io.BytesIO()
        img.save(buffer, fmt)
        data = buffer.getvalue()
    except (OSError, ValueError, KeyError, TypeError):
        assume(False)  # Pillow cannot write this mode in this format
    damage = draw(st.sampled_from(['none', 'truncate', 'flip', 'size']))
    if damage == 'truncate':
        data = data[:draw(st.integers(0, len(data) - 1))]
    elif damage == 'flip':
        data = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        data = bytes(data)
    elif damage == 'size' and fmt == 'PNG':
        data = png_with_size(data, draw(st.integers(1, 2 ** 31 - 1)), draw(st.integers(1, 2 ** 31 - 1)))
    return data


LABELS = label_set('cityscapes', 35, False)


def read_image_every_way(path: str) -> None:
    for reader in (lambda: read_label_map(path, LABELS, (16, 8)), lambda: read_instance_map(path, (16, 8)),
                   lambda: read_photo(path, (16, 8)), lambda: image_header_size(path, 'image')):
        one_line_or_result(reader)


@TMP
@given(data=image_files())
def test_image_readers_return_a_map_or_one_line(tmp_path, data):
    read_image_every_way(write_bytes(tmp_path, 'image.png', data))


def test_image_decoders_stay_within_a_memory_bound(tmp_path):
    """The image readers over generated hostile files (headers claiming up to 2^31 x 2^31 pixels included), in a
    subprocess whose peak resident memory is measured: at most 1 GB above what the imports take. The largest file
    the readers accept costs about that (a 4096 x 4096 colour label map: 0.74 GB measured; grey 0.26 GB); a header
    above the pixel limit is refused before anything is allocated."""
    program = (
        'import resource, sys\n'
        f'sys.path[:0] = [{ROOT!r}, {os.path.join(ROOT, "tests")!r}]\n'
        'import test_fuzz\n'
        'from hypothesis import given, settings, HealthCheck\n'
        'base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n'
        f'folder = {str(tmp_path)!r}\n'
        '@settings(max_examples=int(sys.argv[1]), derandomize=True, deadline=None, database=None,\n'
        '          suppress_health_check=list(HealthCheck))\n'
        '@given(data=test_fuzz.image_files())\n'
        'def decode(data):\n'
        '    test_fuzz.read_image_every_way(test_fuzz.write_bytes(folder, "image.png", data))\n'
        'decode()\n'
        'print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024)\n')
    examples = settings.default.max_examples
    done = subprocess.run([sys.executable, '-c', program, str(examples)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) < 1024, f'peak grew by {done.stdout.split()[-1]} MB'


# ---- .npz statistics: arrays of every dtype and shape, Python objects, damaged archives, hostile .npy headers
npz_arrays = st.dictionaries(
    st.sampled_from(['mu', 'sigma', 'other']),
    st.one_of(
        st.builds(lambda shape, dtype: np.zeros(shape, dtype),
                  st.lists(st.integers(0, 4), max_size=4).map(tuple),
                  st.sampled_from(['f4', 'f8', 'i8', 'u1', 'bool', 'c16', 'U3', 'S2', 'M8[s]', 'f2'])),
        st.builds(lambda v: np.array([v, [1]], dtype=object), json_leaves)),
    max_size=3)


def npy_with_header(shape_text: str) -> bytes:
    header = ("{'descr': '<f8', 'fortran_order': False, 'shape': %s, }" % shape_text).encode()
    header += b' ' * (63 - (len(header) + 10) % 64) + b'\n'
    return b'\x93NUMPY\x01\x00' + struct.pack('<H', len(header)) + header + b'\0' * 64


@st.composite
def npz_files(draw) -> bytes:
    kind = draw(st.sampled_from(['arrays', 'header', 'damaged']))
    buffer = io.BytesIO()
    if kind == 'header':
        shape = draw(st.sampled_from(['(10**12,)', '(2**62, 2**62)', '(-1,)', '("a",)', '(3, 3)', '()', 'None']))
        with zipfile.ZipFile(buffer, 'w') as archive:
            archive.writestr('mu.npy', npy_with_header(shape))
            archive.writestr('sigma.npy', npy_with_header(draw(st.sampled_from(['(2, 2)', '(10**9, 10**9)']))))
        return buffer.getvalue()
    np.savez(buffer, **draw(npz_arrays))
    data = buffer.getvalue()
    if kind == 'damaged':
        data = data[:draw(st.integers(0, len(data)))]
    return data


@TMP
@given(data=npz_files())
def test_npz_statistics_load_or_give_one_line(tmp_path, data):
    one_line_or_result(read_npz, write_bytes(tmp_path, 'stats.npz', data), 'statistics file', {'mu': 1, 'sigma': 2})


# ---- safetensors: hostile header lengths, offsets, dtypes, shapes, duplicate names
@st.composite
def safetensors_files(draw) -> bytes:
    entries = []
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(['w', 'b', 'w', '__metadata__', 'x' * 300, '\u00e9\x00']))
        entries.append((name, {
            'dtype': draw(st.sampled_from(['F32', 'F16', 'BF16', 'I64', 'U8', 'BOOL', 'F8_E4M3', 'X99', 7])),
            'shape': draw(st.lists(st.integers(-2, 2 ** 40), max_size=4)),
            'data_offsets': draw(st.lists(st.integers(-5, 2 ** 40) | st.integers(0, 64), min_size=0, max_size=3))}))
    # Duplicate names are written as JSON text allows (the last wins in most readers).
    header = ('{' + ','.join(f'{json.dumps(k)}:{json.dumps(v)}' for k, v in entries) + '}').encode()
    if draw(st.booleans()):
        header = draw(st.binary(max_size=40)) or header
    length = draw(st.sampled_from([len(header), 0, 2 ** 63, len(header) + 7, 100_000_000])) if draw(st.booleans()) \
        else len(header)
    return struct.pack('<Q', length) + header + draw(st.binary(max_size=128))


@TMP
@given(data=safetensors_files())
def test_safetensors_files_load_or_give_one_line(tmp_path, data):
    one_line_or_result(load_safetensors_file, write_bytes(tmp_path, 'G.safetensors', data), 'model weights')


# ---- COCO annotation files: images and annotations of every shape
coordinates = st.floats(allow_nan=True, allow_infinity=True, width=32) | st.integers(-10 ** 12, 10 ** 12)
coco_annotation = st.fixed_dictionaries({
    'image_id': st.integers(0, 3) | json_leaves,
    'segmentation': st.lists(st.lists(coordinates, max_size=12), max_size=3) | json_values,
}, optional={'id': json_leaves, 'iscrowd': st.integers(0, 1) | json_leaves, 'category_id': json_leaves,
             'area': json_leaves, 'bbox': json_values})
coco_image = st.fixed_dictionaries({'id': st.integers(0, 3) | json_leaves,
                                    'file_name': st.sampled_from(['1.jpg', '2.jpg', '../up.jpg', '', 'a/b.jpg']) |
                                    st.text(max_size=10)})
coco_documents = st.fixed_dictionaries({}, optional={
    'images': st.lists(coco_image, max_size=4) | json_values,
    'annotations': st.lists(coco_annotation, max_size=6) | json_values,
    'categories': json_values})


@TMP
@given(document=coco_documents)
def test_coco_annotations_give_tasks_or_one_line_and_every_map_draws(tmp_path, document):
    prepare_coco_stuff = script('prepare_coco_stuff')
    labels, out = tmp_path / 'labels', tmp_path / 'out'
    labels.mkdir(exist_ok=True)
    out.mkdir(exist_ok=True)
    for name in ('1.png', '2.png'):
        Image.new('L', (24, 16), 7).save(labels / name)
    path = write_bytes(tmp_path, 'instances.json', json.dumps(document).encode())
    tasks = one_line_or_result(prepare_coco_stuff.load_tasks, path, str(labels), str(out))
    for task in tasks or []:
        problem = prepare_coco_stuff.write_instance_map(task)
        assert problem is None or isinstance(problem, str)


# ---- Command lines: the declared options of each command, with hostile values
HOSTILE_VALUES = st.sampled_from(['', '-1', '0', '1e309', 'nan', 'inf', '-inf', '9' * 40, '0x10', '../..', '/',
                                  '\x00', 'a\nb', '\u202e', 'é', ' ', '--', '-', '3.5', 'none', 'True']) | \
    st.text(max_size=12) | st.integers(-2 ** 70, 2 ** 70).map(str)


@functools.lru_cache(maxsize=None)
def command_parsers():
    """Each command's parser: (name, a function of argv that parses it as the command does, its option flags)."""
    parsers = []
    for name, options in (('train.py', TrainOptions), ('test.py', TestOptions)):
        flags = [a.option_strings[0] for a in options().build_parser([])._actions if a.option_strings]
        parsers.append((name, lambda argv, options=options: options().parse(argv, quiet=True), flags))
    for module in map(script, ('synthesize', 'compare', 'convert_checkpoint', 'export', 'demo', 'prepare_coco_stuff',
                               'evaluate')):
        parser = module.build_parser()
        commands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        for command, sub in (commands[0].choices.items() if commands else [('', parser)]):
            flags = [a.option_strings[0] for a in sub._actions if a.option_strings]
            parsers.append((f'{module.__name__} {command}',
                            lambda argv, parse=parser.parse_args, command=command: parse([command] * bool(command) +
                                                                                         argv), flags))
    return parsers


@st.composite
def command_lines(draw):
    name, parse, flags = draw(st.sampled_from(command_parsers()))
    argv = []
    for _ in range(draw(st.integers(0, 5))):
        flag = draw(st.sampled_from([f for f in flags if f not in ('-h', '--help')]))
        argv += [flag] + ([draw(HOSTILE_VALUES)] if draw(st.integers(0, 3)) else [])
    return name, parse, argv


@TMP
@given(command=command_lines())
def test_command_lines_parse_or_give_one_line(tmp_path, monkeypatch, command):
    name, parse, argv = command
    monkeypatch.chdir(tmp_path)  # a run a command line names is looked for here: there is none
    try:
        one_line_or_result(parse, argv)
    except SystemExit as exc:
        assert exc.code == 2, (name, argv)


# ---- Names a user types: --restyle's classes, model sources (folders, Hub ids and revisions)
class_names = st.sampled_from(LABELS.names) | st.text(max_size=12) | \
    st.sampled_from(['0', '35', '255', '٣', '²', '9' * 5000, '-1', ' sky', 'SKY', '\x00', '../sky'])


@TMP
@given(names=st.lists(class_names, max_size=6) | st.lists(st.sampled_from(LABELS.names), min_size=1000,
                                                           max_size=3000))
def test_restyle_names_give_channels_or_one_line(names):
    channels = one_line_or_result(script('synthesize').restyled_channels, argparse.Namespace(restyle=names),
                                  argparse.Namespace(labels=LABELS))
    assert channels is None or all(0 <= c < len(LABELS) for c in channels)


sources = st.sampled_from(['a/..', '../..', 'owner/name\n', 'owner//name', '/', '', '.', 'a/b/c', 'x' * 300 + '/y',
                           'owner/na\x00me', 'ö/ü', 'owner/name?rev=1']) | st.text(max_size=20)


@TMP
@given(source=sources, revision=st.none() | st.sampled_from(['..', 'main', 'a/../../b', '\x01', '']) |
       st.text(max_size=8))
def test_model_sources_resolve_or_give_one_line(tmp_path, monkeypatch, source, revision):
    from models.sources import resolve
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.setenv('HF_HOME', str(tmp_path / 'hf'))
    one_line_or_result(resolve, source, revision=revision)


# ---- The demo's API: an uploaded label map, a seed and a style photo, as gradio hands them over
@pytest.fixture(scope='module')
def demo_page(tmp_path_factory):
    from helpers import save_trained_looking_model
    from models.synthesizer import Synthesizer
    checkpoints = str(tmp_path_factory.mktemp('checkpoints'))
    save_trained_looking_model(checkpoints, 'vae', ['--dataset_mode', 'synthetic', '--use_vae'])
    return script('demo').Demo(Synthesizer.from_pretrained(os.path.join(checkpoints, 'vae')), '--name vae')


seeds = st.none() | st.integers(-2 ** 70, 2 ** 70) | st.floats() | st.sampled_from([0, 1.5, -0.0])


@TMP
@given(label=image_files(), seed=seeds, photo=st.none() | image_files())
def test_demo_api_inputs_give_an_image_or_one_line(demo_page, tmp_path, label, seed, photo):
    label_path = write_bytes(tmp_path, 'upload.png', label)
    photo_path = write_bytes(tmp_path, 'photo.jpg', photo) if photo is not None else None
    image = one_line_or_result(demo_page.synthesize_file, label_path, seed, photo_path)
    assert image is None or image.size == demo_page.synthesizer.size
