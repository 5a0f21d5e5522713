"""The failures the generated inputs of tests/test_fuzz.py found, each kept as its minimal example (they run in every
suite, whatever the fuzz budget)."""
import json
import math

import pytest
from PIL import Image

from data.classes import label_set
from helpers import load_script, run_script
from models.sources import resolve
from options.test_options import TestOptions
from options.train_options import TrainOptions
from util.errors import UserError, one_line



def test_an_opt_json_naming_a_list_as_the_generator_is_one_line(tmp_path):
    # Found: test.py on a run folder without networks.json whose opt.json says "netG": [] (a TypeError).
    options = TrainOptions()
    opt = options.parse(['--dataset_mode', 'synthetic', '--name', 'run', '--checkpoints_dir', str(tmp_path),
                         '--gpu_ids', '-1'], quiet=True)
    options.save_options(opt)
    path = tmp_path / 'run' / 'opt.json'
    saved = json.loads(path.read_text())
    for value in ([], {'a': 1}, 'nonesuch'):
        path.write_text(json.dumps({**saved, 'netG': value}))
        with pytest.raises(UserError) as info:
            TestOptions().parse(['--name', 'run', '--checkpoints_dir', str(tmp_path), '--gpu_ids', '-1'], quiet=True)
        assert str(path) in str(info.value) and 'netG' in str(info.value)
    path.write_text(json.dumps({**saved, 'ngf': -4}))  # a value the command line refuses, through a spec's checks
    with pytest.raises(UserError, match='ngf'):
        TestOptions().parse(['--name', 'run', '--checkpoints_dir', str(tmp_path), '--gpu_ids', '-1'], quiet=True)


def test_control_characters_in_a_model_source_are_shown_escaped_on_one_line(tmp_path, monkeypatch):
    # Found: 'owner/name\n' passed the Hub id pattern ($ matches before a final newline): two lines were printed.
    monkeypatch.chdir(tmp_path)
    for source in ('owner/name\n', 'owner/na\rme', 'a\x00b'):
        with pytest.raises(UserError) as info:
            resolve(source)
        line = one_line(info.value)
        assert '\n' not in line and '\r' not in line and '\x00' not in line and repr(source)[1:-1] in line
    result = run_script('scripts/synthesize.py', '--model', 'owner/name\n', '--labels', str(tmp_path))
    assert result.returncode == 1 and result.stderr.count('\n') == 1 and 'owner/name\\n' in result.stderr


def test_a_coco_image_id_of_true_or_false_is_one_line(tmp_path):
    # Found: {"id": false} passed `isinstance(.., int)`; pycocotools then lost the image (a TypeError).
    prepare_coco_stuff = load_script('prepare_coco_stuff')
    path = tmp_path / 'instances.json'
    path.write_text(json.dumps({'images': [{'id': False, 'file_name': '1.jpg'}], 'annotations': []}))
    with pytest.raises(UserError, match='image False'):
        prepare_coco_stuff.load_tasks(str(path), str(tmp_path), str(tmp_path / 'out'))


@pytest.mark.parametrize('name', ['²', '٣', '9' * 5000, '1' * 7])
def test_restyle_ids_are_ascii_digits(name):
    # Found: '²' is a digit to str.isdigit but not to int() (a ValueError); 5000 digits are beyond int()'s limit.
    import argparse
    synthesize = load_script('synthesize')
    with pytest.raises(UserError, match='no such class'):
        synthesize.restyled_channels(argparse.Namespace(restyle=[name]),
                                     argparse.Namespace(labels=label_set('cityscapes', 35, False)))


def test_seeds_outside_the_generator_range_are_one_line(tmp_path):
    # Found: the demo's API took seed -2**63 - 1 to torch.Generator.manual_seed (an OverflowError-like ValueError).
    demo = load_script('demo')
    for seed in (-2 ** 63 - 1, -1, 2 ** 63, 1.5, math.nan, math.inf):
        with pytest.raises(UserError, match='give a whole number from 0 to 9223372036854775807'):
            demo.Demo.seed_of(seed)
    assert [demo.Demo.seed_of(s) for s in (None, 0, 3.0, 2 ** 63 - 1)] == [0, 0, 3, 2 ** 63 - 1]
    Image.new('L', (8, 8)).save(tmp_path / 'map.png')
    result = run_script('scripts/synthesize.py', '--name', 'x', '--labels', str(tmp_path / 'map.png'),
                        '--base_seed', str(2 ** 63))
    assert result.returncode == 2 and 'base_seed' in result.stderr and result.stderr.count('\n') == 1


@pytest.mark.parametrize('script, option, value', [
    ('scripts/check_dataset.py', '--workers', '100000'),      # forked that many processes
    ('scripts/prepare_coco_stuff.py', '--workers', '100000'),
    ('scripts/demo.py', '--port', '99999'),                    # an OverflowError from bind()
])
def test_counts_and_ports_beyond_their_range_are_one_argparse_line(script, option, value, tmp_path, monkeypatch):
    # Found reading the parsers the fuzz draws from: these took any integer.
    monkeypatch.chdir(tmp_path)
    result = run_script(script, option, value)
    assert result.returncode == 2 and result.stderr.count('\n') == 1 and option in result.stderr, result.stderr
