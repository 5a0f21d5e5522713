"""Hostile and unlucky inputs: copied datasets, link loops, durable writes, huge files, reruns, tampered specs;
each one stops with one line (exit 1 or argparse's 2) and leaves nothing half-written."""
import os
import shutil
import stat

import numpy as np
import pytest
from PIL import Image

from helpers import run_script
from dataset_writers import write_coco
from data.image_folder import CACHE_NAME, make_dataset
from util.atomic import atomic_write_text


def check_dataset(*args):
    return run_script(os.path.join('scripts', 'check_dataset.py'), *args)


def test_a_copied_dataset_reads_its_own_files_not_the_originals(tmp_path):
    original = write_coco(str(tmp_path / 'original'), 'train')
    first = check_dataset('--dataset_mode', 'coco', '--dataroot', original, '--batchSize', '1')
    assert first.returncode == 0, first.stdout + first.stderr
    assert os.path.isfile(os.path.join(original, 'train_label', CACHE_NAME))  # COCO writes the cache
    copy = str(tmp_path / 'broken')
    shutil.copytree(original, copy)  # copies files.list too, as cp -r does
    broken = os.path.join(copy, 'train_label', '000000000002.png')
    label = np.array(Image.open(broken))
    label[3:5, 3:5] = 200
    Image.fromarray(label).save(broken)
    result = check_dataset('--dataset_mode', 'coco', '--dataroot', copy, '--batchSize', '1')
    assert result.returncode == 1
    assert broken in result.stdout and 'original' not in result.stdout
    assert all(path.startswith(copy) for path in make_dataset(os.path.join(copy, 'train_label'), read_cache=True))


def test_a_cache_of_absolute_paths_or_of_a_changed_subfolder_is_not_used(tmp_path):
    folder = tmp_path / 'maps'
    (folder / 'a').mkdir(parents=True)
    for name in ('a/1.png', '2.png'):
        Image.new('L', (4, 4)).save(folder / name)
    listed = make_dataset(str(folder), write_cache=True)
    assert [os.path.relpath(p, folder) for p in listed] == ['2.png', 'a/1.png']
    cache = folder / CACHE_NAME
    assert not any(os.path.isabs(line) for line in cache.read_text().splitlines()[1:])
    assert make_dataset(str(folder), read_cache=True) == listed
    # A file added in a subfolder makes the cache stale.
    os.utime(cache, (0, 0))
    Image.new('L', (4, 4)).save(folder / 'a' / '3.png')
    assert len(make_dataset(str(folder), read_cache=True)) == 3
    # An old cache of absolute paths elsewhere is ignored.
    atomic_write_text(str(cache), '/elsewhere/x.png\n')
    assert make_dataset(str(folder), read_cache=True) == sorted(make_dataset(str(folder)))


def test_link_loops_are_followed_once(tmp_path):
    root = write_coco(str(tmp_path / 'coco'), 'train', count=2)
    labels = os.path.join(root, 'train_label')
    os.symlink(labels, os.path.join(labels, 'self'))            # a link to its own folder
    os.makedirs(os.path.join(labels, 'deep'))
    os.symlink(os.path.join(labels, 'deep'), os.path.join(labels, 'deep', 'loop'))  # a loop below
    assert len(make_dataset(labels)) == 2
    result = check_dataset('--dataset_mode', 'coco', '--dataroot', root, '--batchSize', '1')
    assert result.returncode == 0, result.stdout + result.stderr


def test_atomic_writes_honour_the_umask_and_are_synced(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, 'fsync', lambda fd: synced.append(stat.S_ISDIR(os.fstat(fd).st_mode)) or real_fsync(fd))
    old = os.umask(0o027)
    try:
        atomic_write_text(str(tmp_path / 'a.txt'), 'x')
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / 'a.txt').st_mode) == 0o640
    assert synced == [False, True]  # the file before the rename, its folder after


# --- Training: reruns, locks, option values -------------------------------------------------------------------------

TINY = ['--dataset_mode', 'synthetic', '--max_dataset_size', '4', '--batchSize', '2', '--niter', '1',
        '--ngf', '4', '--ndf', '4', '--predictor_nc', '16', '--gpu_ids', '-1',
        '--cpu_allocator', 'system']


def train(tmp_path, name, *args):
    vgg = [] if '--vgg_weights' in args else ['--no_vgg_loss']
    return run_script('train.py', *TINY, *vgg, '--name', name, '--checkpoints_dir', str(tmp_path / 'ck'), *args)


def one_error_line(result, code=1) -> str:
    assert result.returncode == code, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), result.stderr
    return lines[0]


@pytest.mark.slow  # trains
def test_a_rerun_never_replaces_a_finished_run_and_two_runs_never_share_a_folder(tmp_path):
    assert train(tmp_path, 'run').returncode == 0
    folder = tmp_path / 'ck' / 'run'
    before = {f: (folder / f).read_bytes() for f in ('latest_net_G.pth', 'opt.json')}
    line = one_error_line(train(tmp_path, 'run', '--lr', '0.001'))
    assert '--continue_train' in line and '--overwrite' in line and 'another --name' in line
    assert {f: (folder / f).read_bytes() for f in before} == before
    # A run holding the folder keeps a second one out, even with --overwrite.
    from util.checkpoint import CheckpointStore
    lock = CheckpointStore(str(tmp_path / 'ck'), 'run').lock()
    try:
        line = one_error_line(train(tmp_path, 'run', '--overwrite'))
        assert 'in use by another training run' in line and str(os.getpid()) in line
        assert {f: (folder / f).read_bytes() for f in before} == before
    finally:
        lock.release()
    assert train(tmp_path, 'run', '--overwrite', '--seed', '1').returncode == 0
    assert (folder / 'latest_net_G.pth').read_bytes() != before['latest_net_G.pth']
    assert not (folder / '.lock').exists()  # released when training ends


@pytest.mark.parametrize('args, says', [
    (['--batchSize', '0'], '--batchSize'),
    (['--crop_size', '0'], '--crop_size'),
    (['--lr', 'nan'], '--lr'),
    (['--lr', '-1'], '--lr'),
    (['--aspect_ratio', '0'], '--aspect_ratio'),
    (['--gpu_ids', 'abc'], '--gpu_ids'),
    (['--nThreads', '-1'], '--nThreads'),
    (['--niter', '-1'], '--niter'),
    (['--ema_decay', '2'], '--ema_decay'),
    (['--ngf', '2000'], '--ngf'),
    (['--label_nc', '1000000000'], '--label_nc'),
    (['--crop_size', '20000'], '--crop_size'),
    (['--print_freq', '0'], '--print_freq'),
    (['--seed', '-1'], '--seed'),
])
def test_bad_option_values_are_one_argparse_line(tmp_path, args, says):
    line = one_error_line(train(tmp_path, 'bad', *args), code=2)
    assert says in line
    assert not (tmp_path / 'ck' / 'bad').exists()


@pytest.mark.parametrize('args, says', [
    (['--crop_size', '63'], 'multiples of 32'),
    (['--crop_size', '64', '--aspect_ratio', '3'], 'multiples of 32'),
    (['--niter', '0', '--niter_decay', '0'], 'nothing to train'),
    (['--eval_freq', '2'], 'use --fid_freq for FID alone'),  # the synthetic set has no protocol
    (['--best_metric', 'miou', '--fid_freq', '2'], 'add --eval_freq N'),
])
def test_impossible_sizes_and_empty_schedules_stop_before_anything_is_written(tmp_path, args, says):
    assert says in one_error_line(train(tmp_path, 'bad', *args))
    assert not (tmp_path / 'ck' / 'bad').exists()


@pytest.mark.slow  # trains
def test_unreadable_weight_and_state_files_are_named_with_the_reason(tmp_path):
    garbage = tmp_path / 'garbage.pth'
    garbage.write_bytes(b'not a torch file at all' * 10)
    line = one_error_line(train(tmp_path, 'v', '--vgg_weights', str(garbage)))
    assert str(garbage) in line and '--vgg_weights' in line and 'Unsupported operand' in line  # the reason, not advice
    line = one_error_line(train(tmp_path, 'f', '--fid_freq', '2', '--inception_weights', str(garbage)))
    assert '--inception_weights' in line and str(garbage) in line
    assert train(tmp_path, 's').returncode == 0
    state = tmp_path / 'ck' / 's' / 'latest_train_state.pth'
    state.write_bytes(state.read_bytes()[:200])  # truncated
    line = one_error_line(train(tmp_path, 's', '--niter', '2', '--continue_train'))
    assert 'training state' in line and 'truncated' in line


@pytest.mark.slow  # trains
def test_tampered_opt_json_is_checked_as_the_command_line(tmp_path):
    import json
    assert train(tmp_path, 'r').returncode == 0
    path = tmp_path / 'ck' / 'r' / 'opt.json'
    saved = json.loads(path.read_text())
    for key, value, says in (('ngf', -4, 'ngf'), ('use_vae', 'false', 'use_vae'), ('crop_size', 20000, 'crop_size')):
        path.write_text(json.dumps({**saved, key: value}))
        result = run_script('test.py', '--name', 'r', '--checkpoints_dir', str(tmp_path / 'ck'), '--gpu_ids', '-1',
                            '--results_dir', str(tmp_path / 'results'))
        line = one_error_line(result)
        assert str(path) in line and says in line
    assert not (tmp_path / 'results').exists()


# --- Synthesis: specs, seeds, huge or lossy files ------------------------------------------------------------------

@pytest.fixture(scope='module')
def model(tmp_path_factory):
    from helpers import save_trained_looking_model
    folder = str(tmp_path_factory.mktemp('checkpoints'))
    save_trained_looking_model(folder, 'vae', ['--dataset_mode', 'synthetic', '--use_vae'])
    return folder


def synthesize(model, tmp_path, *args):
    return run_script(os.path.join('scripts', 'synthesize.py'), '--name', 'vae', '--checkpoints_dir', model,
                      '--gpu_ids', '-1', '--out', str(tmp_path / 'out'), *args)


def label_file(tmp_path, size=(64, 64), name='map.png', **save) -> str:
    path = str(tmp_path / name)
    Image.fromarray((np.indices(size[::-1]).sum(0) // 16 % 12).astype(np.uint8)).save(path, **save)
    return path


def test_a_seed_range_typo_stops_at_once(model, tmp_path):
    line = one_error_line(synthesize(model, tmp_path, '--labels', label_file(tmp_path), '--seeds', '0-100000000'))
    assert '100000001 seeds' in line and 'split the range' in line
    assert not (tmp_path / 'out').exists()


def test_huge_label_maps_are_refused_before_they_are_decoded(model, tmp_path):
    huge = label_file(tmp_path, size=(5000, 4000), name='huge.png')
    assert os.path.getsize(huge) < 200_000  # a small file that decodes to 20 megapixels
    line = one_error_line(synthesize(model, tmp_path, '--labels', huge))
    assert huge in line and '5000x4000' in line and '--max_input_pixels' in line
    assert not (tmp_path / 'out').exists()
    larger = label_file(tmp_path, size=(300, 200), name='larger.png')
    assert 'above the limit' in one_error_line(synthesize(model, tmp_path, '--labels', larger, '--max_input_pixels',
                                                          '50000'))
    assert synthesize(model, tmp_path, '--labels', larger, '--max_input_pixels', '60000').returncode == 0


def test_a_jpeg_label_map_is_called_lossy(model, tmp_path):
    jpeg = label_file(tmp_path, name='map.jpg', quality=70)
    line = one_error_line(synthesize(model, tmp_path, '--labels', jpeg))
    assert 'JPEG' in line and 'PNG' in line and ('stray ids' in line or 'distinct ids' in line)


@pytest.mark.parametrize('edit, says', [
    (lambda d: d['networks']['G']['arguments'].update(ngf=2000), 'ngf 2000'),
    (lambda d: d['networks']['G']['arguments'].update(crop_size=20000), 'crop_size 20000'),
    (lambda d: d['networks']['G']['arguments'].update(use_vae='false'), 'use_vae'),
    (lambda d: d['networks']['G']['arguments'].update(num_upsampling_layers='many'), 'cannot be built'),
    (lambda d: d['networks']['G'].update({'class': 'Unknown'}), "class 'Unknown' is not a registered network"),
    (lambda d: d['networks']['G'].pop('arguments'), 'a network is described as'),
    (lambda d: d['inputs'].update(label_nc=1e9), 'label_nc'),
    (lambda d: d['inputs'].update(dataset_mode='imagenet'), 'dataset_mode'),
    (lambda d: d['networks'].pop('G'), 'no generator'),
])
def test_tampered_networks_json_is_one_line_before_any_allocation(model, tmp_path, edit, says):
    import json
    folder = tmp_path / 'ck'
    shutil.copytree(model, folder)
    path = folder / 'vae' / 'networks.json'
    description = json.loads(path.read_text())
    edit(description)
    path.write_text(json.dumps(description))
    line = one_error_line(synthesize(str(folder), tmp_path, '--labels', label_file(tmp_path)))
    assert str(path) in line and says in line


def test_the_demo_refuses_huge_uploads_and_canvases(model, tmp_path):
    from helpers import load_script
    from models.synthesizer import Synthesizer
    from util.errors import UserError
    demo_script = load_script('demo')
    demo = demo_script.Demo(Synthesizer.from_pretrained(os.path.join(model, 'vae')), '--name vae',
                            max_input_pixels=100 * 100)
    with pytest.raises(UserError, match='above the limit'):
        demo.synthesize_file(label_file(tmp_path, size=(200, 100)), 0, None)
    with pytest.raises(UserError, match='above the limit'):
        demo.synthesize_painting(Image.new('RGB', (200, 100)), 0, None)
    assert demo.synthesize_file(label_file(tmp_path), 0, None).size == (64, 64)
    args = demo_script.build_parser().parse_args(['--name', 'vae'])
    assert demo_script.launch_settings(args)['max_file_size'] == '20mb'
    assert demo_script.UPLOAD_CACHE_LIFETIME[1] <= 3600  # uploads are deleted


# --- Data preparation and checks ------------------------------------------------------------------------------------

def test_prepare_coco_stuff_never_writes_outside_its_folder(tmp_path):
    import json
    (tmp_path / 'labels').mkdir()
    annotations = {'images': [{'id': 1, 'file_name': '../../escape.jpg', 'width': 4, 'height': 4}],
                   'annotations': [], 'categories': [{'id': 1, 'name': 'person', 'supercategory': 'person'}]}
    (tmp_path / 'instances.json').write_text(json.dumps(annotations))
    Image.new('L', (4, 4)).save(tmp_path / 'escape.png')
    result = run_script(os.path.join('scripts', 'prepare_coco_stuff.py'), '--annotation_file',
                        str(tmp_path / 'instances.json'), '--input_label_dir', str(tmp_path / 'labels'),
                        '--output_instance_dir', str(tmp_path / 'out' / 'inst'))
    line = one_error_line(result)
    assert "'../../escape.jpg'" in line and 'not a plain file name' in line
    assert not (tmp_path / 'out').exists()
    assert sorted(os.listdir(tmp_path)) == ['escape.png', 'instances.json', 'labels']


def test_check_dataset_explains_the_default_dataroot_and_names_the_batch_size_option(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = one_error_line(check_dataset('--dataset_mode', 'coco'))
    assert 'reference names after Cityscapes' in line and 'give the folder of the coco dataset' in line
    from dataset_writers import write_custom
    label_dir, image_dir = write_custom(str(tmp_path / 'custom'), count=3)
    result = check_dataset('--dataset_mode', 'custom', '--label_dir', label_dir, '--image_dir', image_dir,
                           '--no_instance')
    assert result.returncode == 1 and 'fewer than --batchSize 32' in result.stdout and '--batchSize 3' in result.stdout


# --- Evaluation -----------------------------------------------------------------------------------------------------

def evaluate(*args):
    return run_script(os.path.join('scripts', 'evaluate.py'), *args)


def test_evaluate_seg_names_empty_truncated_colour_and_huge_maps(tmp_path):
    pred, label = tmp_path / 'pred', tmp_path / 'label'
    pred.mkdir(), label.mkdir()
    Image.new('L', (8, 8)).save(label / 'a.png')
    cases = {
        'empty': lambda path: path.write_bytes(b''),
        'truncated': lambda path: (Image.new('L', (64, 64)).save(path), path.write_bytes(path.read_bytes()[:60])),
        'colour': lambda path: Image.new('RGB', (8, 8)).save(path),
        'huge': lambda path: Image.new('L', (5000, 4000)).save(path),
    }
    for kind, write in cases.items():
        write(pred / 'a.png')
        line = one_error_line(evaluate('seg', '--pred_dir', str(pred), '--label_dir', str(label), '--num_classes', '3'))
        assert str(pred / 'a.png') in line, (kind, line)
        assert {'empty': 'an empty file', 'truncated': 'truncated', 'colour': 'RGB image',
                'huge': '5000x4000'}[kind] in line
    result = evaluate('seg', '--pred_dir', str(pred), '--label_dir', str(label), '--num_classes', '-3')
    assert result.returncode == 2 and '--num_classes' in result.stderr


def test_evaluate_all_checks_where_it_writes_before_the_long_work(tmp_path):
    (tmp_path / 'a_file').write_text('x')
    (tmp_path / 'coco').mkdir()
    result = evaluate('all', '--dataset_mode', 'coco', '--dataroot', str(tmp_path / 'coco'), '--results', str(tmp_path),
                      '--stats_cache', str(tmp_path / 'a_file' / 'cache'), '--gpu_ids', '-1')
    assert 'cannot write to' in one_error_line(result) and '--stats_cache' in one_error_line(result)


def test_a_full_disk_leaves_page_and_metrics_as_they_were_and_is_one_line(tmp_path, monkeypatch, capsys):
    import errno
    from util import atomic
    from util.errors import run_cli
    page, metrics = tmp_path / 'evaluation.html', tmp_path / 'metrics.json'
    page.write_text('old page')
    metrics.write_text('old metrics')
    real_open = atomic.atomic_open

    def full_after_the_page(path, mode='wb'):
        if path.endswith('metrics.json'):
            raise OSError(errno.ENOSPC, 'No space left on device', path)
        return real_open(path, mode)
    monkeypatch.setattr(atomic, 'atomic_open', full_after_the_page)

    def write_both():
        try:
            atomic.atomic_write_texts({str(page): 'new page', str(metrics): 'new metrics'})
        except OSError as exc:
            raise RuntimeError('a writer wrapping it') from exc
    with pytest.raises(SystemExit) as stop:
        run_cli(write_both)
    assert stop.value.code == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        f'error: No space left on device ({metrics}): free space or choose a folder you can write to; the files '
        'written before are whole']
    assert page.read_text() == 'old page' and metrics.read_text() == 'old metrics'
    assert not [f for f in os.listdir(tmp_path) if f.endswith('.tmp')]


def test_an_unwritable_results_dir_is_one_line_before_synthesis(model, tmp_path):
    (tmp_path / 'a_file').write_text('x')
    result = run_script('test.py', '--name', 'vae', '--checkpoints_dir', model, '--gpu_ids', '-1',
                        '--results_dir', str(tmp_path / 'a_file' / 'results'))
    assert '--results_dir' in one_error_line(result)


# --- Outputs never over inputs --------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def plain_model(tmp_path_factory):
    """A model without a style encoder: synthesize.py names its images <stem>.png, as the label maps are named."""
    from helpers import save_trained_looking_model
    folder = str(tmp_path_factory.mktemp('checkpoints'))
    save_trained_looking_model(folder, 'plain', ['--dataset_mode', 'synthetic'])
    return folder


def files_and_bytes(folder) -> dict:
    return {path: open(os.path.join(root, path), 'rb').read() for root, _, names in os.walk(folder) for path in names}


@pytest.mark.parametrize('out', ['maps', 'maps/sub', '.', 'maps/a.png'])
def test_synthesize_never_writes_over_its_label_maps(plain_model, tmp_path, out):
    """The output folder is the label folder, inside it, above it, or the label map itself: one line, nothing
    written (before, --out maps with --labels maps replaced each map with its synthesized image)."""
    maps = tmp_path / 'maps'
    maps.mkdir()
    label_file(maps, name='a.png')
    before = files_and_bytes(tmp_path)
    result = run_script(os.path.join('scripts', 'synthesize.py'), '--name', 'plain', '--checkpoints_dir', plain_model,
                        '--gpu_ids', '-1', '--labels', str(maps), '--out', str(tmp_path / out))
    line = one_error_line(result)
    assert f'--labels {maps}' in line and 'choose --out outside the inputs' in line
    assert files_and_bytes(tmp_path) == before


def test_other_inputs_of_synthesize_are_kept_apart_too(plain_model, model, tmp_path):
    maps = tmp_path / 'maps'
    maps.mkdir()
    label_file(maps, name='a.png')
    (tmp_path / 'photos').mkdir()
    photo = label_file(tmp_path / 'photos', name='p.png')
    (tmp_path / 'inst').mkdir()
    label_file(tmp_path / 'inst', name='a.png')
    cases = [(['--name', 'plain', '--checkpoints_dir', plain_model, '--out', os.path.join(plain_model, 'plain')],
              'the model folder'),
             (['--name', 'vae', '--checkpoints_dir', model, '--style_image', photo,
               '--out', str(tmp_path / 'photos')], '--style_image'),
             (['--name', 'plain', '--checkpoints_dir', plain_model, '--instances', str(tmp_path / 'inst'),
               '--out', str(tmp_path / 'inst' / 'x')], '--instances')]
    for args, says in cases:
        result = run_script(os.path.join('scripts', 'synthesize.py'), '--gpu_ids', '-1', '--labels', str(maps), *args)
        line = one_error_line(result)
        assert says in line and 'choose --out outside the inputs' in line, args
    result = run_script(os.path.join('scripts', 'synthesize.py'), '--name', 'plain', '--checkpoints_dir', plain_model,
                        '--gpu_ids', '-1', '--labels', str(maps), '--out', str(tmp_path / 'elsewhere'))
    assert result.returncode == 0 and os.path.isfile(tmp_path / 'elsewhere' / 'a.png')


def test_test_py_train_py_and_the_converters_keep_outputs_apart(plain_model, tmp_path):
    from dataset_writers import write_custom
    label_dir, image_dir = write_custom(str(tmp_path / 'custom'), count=2)
    before = files_and_bytes(tmp_path / 'custom')
    custom = ['--dataset_mode', 'custom', '--label_dir', label_dir, '--image_dir', image_dir, '--no_instance',
              '--gpu_ids', '-1']
    result = run_script('train.py', *custom, '--checkpoints_dir', label_dir, '--name', 'run', '--ngf', '4')
    assert f'--label_dir {label_dir}' in one_error_line(result) and not os.path.exists(os.path.join(label_dir, 'run'))
    result = run_script('test.py', '--model', os.path.join(plain_model, 'plain'), '--dataset_mode', 'synthetic',
                        '--results_dir', os.path.join(plain_model, 'plain'))
    assert 'the model folder' in one_error_line(result)
    for script in ('convert_checkpoint.py', 'export.py'):
        result = run_script(os.path.join('scripts', script), '--name', 'plain', '--checkpoints_dir', plain_model,
                            '--out', os.path.join(plain_model, 'plain'), '--overwrite')
        assert 'the model folder' in one_error_line(result), script
        assert os.path.isfile(os.path.join(plain_model, 'plain', 'latest_net_G.pth'))
    result = run_script(os.path.join('scripts', 'prepare_coco_stuff.py'), '--annotation_file', str(tmp_path / 'a.json'),
                        '--input_label_dir', label_dir, '--output_instance_dir', label_dir)
    assert '--input_label_dir' in one_error_line(result)
    result = evaluate('fid', '--real_dir', image_dir, '--fake_dir', image_dir, '--stats_cache', image_dir)
    assert '--real_dir' in one_error_line(result)
    assert files_and_bytes(tmp_path / 'custom') == before


# --- Second round: totals, JSON, pipes, evaluation files, annotations, the demo's canvas ------------------------------

def write_config(folder, edit) -> str:
    """A copy of a model folder whose config.json `edit` changes (a function of the JSON text)."""
    path = os.path.join(folder, 'config.json')
    with open(path) as f:
        text = f.read()
    with open(path, 'w') as f:
        f.write(edit(text))
    return path


@pytest.fixture(scope='module')
def model_folder(model, tmp_path_factory):
    folder = str(tmp_path_factory.mktemp('folder') / 'vae')
    result = run_script(os.path.join('scripts', 'convert_checkpoint.py'), '--name', 'vae', '--checkpoints_dir', model,
                        '--out', folder)
    assert result.returncode == 0, result.stderr
    return folder


def synthesize_folder(folder, tmp_path, *args):
    return run_script(os.path.join('scripts', 'synthesize.py'), '--model', folder, '--gpu_ids', '-1', '--out',
                      str(tmp_path / 'out'), '--labels', label_file(tmp_path), *args)


def test_sizes_each_in_range_but_too_large_together_are_one_line(model_folder, tmp_path):
    """ngf 256, crop_size 2048, z_dim 1024 with a VAE: a 68 GB layer (a raw allocation error before)."""
    import json
    folder = tmp_path / 'big'
    shutil.copytree(model_folder, folder)
    config = json.loads((folder / 'config.json').read_text())
    for network in config['networks'].values():
        network['arguments'].update({k: v for k, v in {'ngf': 256, 'crop_size': 2048, 'z_dim': 1024}.items()
                                     if k in network['arguments']})
    config['inputs']['crop_size'], config['style']['z_dim'] = 2048, 1024
    (folder / 'config.json').write_text(json.dumps(config))
    line = one_error_line(synthesize_folder(str(folder), tmp_path))
    assert 'needs about' in line and 'GB' in line and '--memory_budget' in line and str(folder) in line
    assert not (tmp_path / 'out').exists()
    result = run_script('train.py', '--dataset_mode', 'synthetic', '--ngf', '256', '--crop_size', '2048', '--z_dim',
                        '1024', '--use_vae', '--checkpoints_dir', str(tmp_path / 'ck'), '--gpu_ids', '-1')
    assert 'needs about' in one_error_line(result) and not (tmp_path / 'ck' / 'CC-FPSE_coco').exists()


@pytest.mark.parametrize('option, value', [('--load_size', '1000000'), ('--nThreads', '100000')])
def test_load_size_and_worker_counts_have_upper_limits(option, value, tmp_path):
    result = run_script('train.py', option, value, '--checkpoints_dir', str(tmp_path))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and f'argument {option}' in lines[0] and 'from' in lines[0]


@pytest.mark.parametrize('case, says', [
    ('deep', 'nested too deeply'),
    ('sparse', 'bytes, far more than such a file holds'),
    ('no_style', '"style" must give use_vae'),
])
def test_json_the_model_loaders_did_not_survive_is_one_line(model_folder, tmp_path, case, says):
    folder = tmp_path / 'model'
    shutil.copytree(model_folder, folder)
    path = folder / 'config.json'
    if case == 'deep':
        path.write_text('[' * 100000 + ']' * 100000)
    elif case == 'sparse':
        with open(path, 'wb') as f:
            f.truncate(10 << 30)  # 10 GB, no disk used
    else:
        import json
        config = json.loads(path.read_text())
        del config['style']
        path.write_text(json.dumps(config))
    for backend in ('pytorch', 'onnxruntime'):
        line = one_error_line(synthesize_folder(str(folder), tmp_path, '--backend', backend))
        assert says in line and str(path) in line, (backend, line)


def test_a_named_pipe_among_the_label_maps_is_refused_without_blocking(model, tmp_path):
    maps = tmp_path / 'maps'
    maps.mkdir()
    label_file(maps, name='a.png')
    os.mkfifo(maps / 'x.png')  # reading it would wait for a writer for ever
    line = one_error_line(synthesize(model, tmp_path, '--labels', str(maps)))
    assert str(maps / 'x.png') in line and 'named pipe' in line and not (tmp_path / 'out').exists()


def test_evaluate_fid_names_empty_huge_and_pickled_files(tmp_path):
    real, fake = tmp_path / 'real', tmp_path / 'fake'
    real.mkdir(), fake.mkdir()
    for folder in (real, fake):
        Image.new('RGB', (8, 8)).save(folder / 'a.png')
    (fake / 'b.png').write_bytes(b'')
    line = one_error_line(evaluate('fid', '--real_dir', str(real), '--fake_dir', str(fake), '--stats_cache', ''))
    assert str(fake / 'b.png') in line and 'empty' in line
    (fake / 'b.png').unlink()
    Image.new('1', (20000, 20000)).save(fake / 'b.png')  # 400 megapixels in a small file: past Pillow's own guard
    line = one_error_line(evaluate('fid', '--real_dir', str(real), '--fake_dir', str(fake), '--stats_cache', ''))
    assert str(fake / 'b.png') in line and '20000x20000' in line and 'above the limit' in line
    np.savez(tmp_path / 'stats.npz', mu=np.array([object()], dtype=object), sigma=np.zeros((1, 1)))
    line = one_error_line(evaluate('fid', '--real_dir', str(tmp_path / 'stats.npz'), '--fake_dir', str(real),
                                   '--stats_cache', ''))
    assert 'stats.npz' in line and 'Python objects' in line


@pytest.mark.parametrize('edit, says', [
    (lambda a: a['images'][0].update(file_name=139), 'file_name 139'),
    (lambda a: a['annotations'][0]['segmentation'][0].__setitem__(0, float('inf')), 'not a finite number'),
])
def test_prepare_coco_stuff_names_a_malformed_annotation_file(tmp_path, edit, says):
    import json
    (tmp_path / 'labels').mkdir()
    Image.new('L', (8, 8)).save(tmp_path / 'labels' / 'a.png')
    annotations = {'images': [{'id': 1, 'file_name': 'a.jpg', 'width': 8, 'height': 8}],
                   'annotations': [{'id': 7, 'image_id': 1, 'segmentation': [[1, 1, 5, 1, 5, 5]], 'iscrowd': 0,
                                    'category_id': 1}],
                   'categories': [{'id': 1, 'name': 'person', 'supercategory': 'person'}]}
    edit(annotations)
    (tmp_path / 'a.json').write_text(json.dumps(annotations))  # Infinity is what json writes for inf
    result = run_script(os.path.join('scripts', 'prepare_coco_stuff.py'), '--annotation_file', str(tmp_path / 'a.json'),
                        '--input_label_dir', str(tmp_path / 'labels'), '--output_instance_dir', str(tmp_path / 'inst'),
                        '--workers', '1')
    line = one_error_line(result)
    assert says in line and 'a.json' in line and not (tmp_path / 'inst').exists()


@pytest.mark.slow(seconds=20)
def test_the_demos_colour_snapping_memory_follows_the_canvas_not_the_classes():
    """A canvas at the pixel limit (4096x4096) with a colour per pixel, for COCO's 183 classes: the snapping took
    pixels x classes x 3 numbers (about 70 GB); now a few times the canvas's own size."""
    import tracemalloc
    from data.classes import label_set
    from data.label_maps import snap_to_palette
    from util.util import MAX_INPUT_PIXELS
    side = int(MAX_INPUT_PIXELS ** 0.5)
    canvas = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    labels = label_set('coco', 182, True)
    tracemalloc.start()
    try:
        values = snap_to_palette(canvas, labels)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert values.shape == (side, side) and peak < 64 * side * side, peak / 2 ** 20  # bytes per pixel


def test_check_dataset_names_a_jpeg_label_map_and_a_huge_png_is_called_too_large(model, tmp_path):
    from dataset_writers import write_custom
    label_dir, image_dir = write_custom(str(tmp_path / 'custom'), count=2)
    first = sorted(os.listdir(label_dir))[0]
    Image.open(os.path.join(label_dir,
                            first)).convert('L').save(os.path.join(label_dir, first[:-4] + '.jpg'), quality=60)
    os.remove(os.path.join(label_dir, first))
    result = check_dataset('--dataset_mode', 'custom', '--label_dir', label_dir, '--image_dir', image_dir,
                           '--no_instance', '--batchSize', '1')
    assert result.returncode == 1 and 'is a JPEG' in result.stdout and 'use --label_nc' not in result.stdout
    huge = tmp_path / 'huge.png'
    Image.new('1', (20000, 20000)).save(huge)
    line = one_error_line(synthesize(model, tmp_path, '--labels', str(huge)))
    assert '20000x20000' in line and 'above the limit' in line and 'truncated' not in line


def test_a_run_whose_lock_file_was_removed_under_it_ends_cleanly(tmp_path):
    """Releasing a lock whose file another hand removed (or replaced with another run's) neither fails nor removes
    the other run's lock."""
    from util.checkpoint import RunLock
    first = RunLock(str(tmp_path / '.lock'))
    os.remove(tmp_path / '.lock')
    second = RunLock(str(tmp_path / '.lock'))
    first.release()
    assert (tmp_path / '.lock').read_text() == str(os.getpid())  # the second run's lock stays
    second.release()
    assert not (tmp_path / '.lock').exists()
