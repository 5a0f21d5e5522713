"""`evaluate.py all` on results folders as test.py writes them, against tiny datasets in their real layouts, with
segmenter files in the published layout whose prediction is known: scores checked against confusion matrices
worked by hand; bad inputs stop with one line and leave nothing."""
import glob
import json
import os
import re
import runpy
import sys

import numpy as np
import pytest
from PIL import Image

from helpers import ROOT
from dataset_writers import write_ade20k, write_cityscapes, write_coco
from segmenter_files import write_published_files

# Per dataset: the writer, label-map size, images' size, file values of the left half, right half and the top
# rows (not scored), the segmenter and the class its weights predict everywhere (the right half's class).
CASES = {
    'coco': (write_coco, (32, 32), (16, 16), (3, 7, 255), 'deeplabv2_cocostuff', 7),
    'ade20k': (write_ade20k, (32, 32), (16, 16), (4, 8, 0), 'upernet101_ade20k', 7),
    'cityscapes': (write_cityscapes, (64, 32), (32, 16), (7, 26, 0), 'drn_d_105_cityscapes', 13),
}


def label_files(root, dataset_mode):
    patterns = {'coco': 'val_label/*.png', 'ade20k': 'annotations/validation/*.png',
                'cityscapes': 'gtFine/val/*/*_labelIds.png'}
    return sorted(glob.glob(os.path.join(root, patterns[dataset_mode])))


def photo_stems(root, dataset_mode):
    patterns = {'coco': 'val_img/*.jpg', 'ade20k': 'images/validation/*.jpg', 'cityscapes': 'leftImg8bit/val/*/*.png'}
    paths = sorted(glob.glob(os.path.join(root, patterns[dataset_mode])))
    return [os.path.splitext(os.path.basename(p))[0] for p in paths]


def write_case(tmp_path, dataset_mode, count=3):
    """The dataset (label maps: left half, right half, top 4 rows unscored) and a results folder of its photos."""
    writer, label_size, image_size, (left, right, top), _, _ = CASES[dataset_mode]
    root = str(tmp_path / dataset_mode)
    writer(root, phase='val', count=count, size=label_size)
    w, h = label_size
    label = np.full((h, w), left, dtype=np.uint8)
    label[:, w // 2:] = right
    label[:4] = top
    for path in label_files(root, dataset_mode):
        Image.fromarray(label).save(path)
    results = tmp_path / 'results' / 'test_latest'
    rng = np.random.default_rng(0)
    for kind in ('synthesized_image', 'real_image'):
        os.makedirs(results / 'images' / kind)
        for stem in photo_stems(root, dataset_mode):
            pixels = rng.integers(0, 256, (image_size[1], image_size[0], 3), dtype=np.uint8)
            Image.fromarray(pixels).save(results / 'images' / kind / f'{stem}.png')
    return root, str(results)


def run_evaluate(capsys, monkeypatch, *args):
    monkeypatch.setattr(sys, 'argv', ['evaluate.py', *args])
    try:
        runpy.run_path(os.path.join(ROOT, 'scripts', 'evaluate.py'), run_name='__main__')
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


# Images 16 (or 32) wide from label maps twice their size: nearest keeps source rows 1, 3, ... so the top two rows
# are unscored and 14 rows of each half are scored; every pixel is predicted as the right half's class.
# Per image: left half L = right half R = 14 * w/2 scored pixels, 2 * w unscored. Confusion: [left, right] = L,
# [right, right] = R. IoU(right) = R / (L + R) = 1/2, IoU(left) = 0.
EXPECTED = {
    'coco': (25.0, 50.0),  # kazuto1011: mean over the two classes in the ground truth; accuracy over scored pixels
    'ade20k': (0.5 / 150 * 100, 50.0),  # CSAIL: mean over all 150 classes, absent ones 0
    'cityscapes': (25.0, 224 / 512 * 100),  # DRN: NaN-skipping mean; accuracy with the 64 unscored pixels counted
}


@pytest.mark.slow
@pytest.mark.parametrize('dataset_mode', list(CASES))
def test_all_scores_equal_hand_worked_confusion(dataset_mode, tmp_path, capsys, monkeypatch, inception_weights):
    root, results = write_case(tmp_path, dataset_mode)
    _, _, image_size, _, segmenter, predicted = CASES[dataset_mode]
    weights = write_published_files(segmenter, str(tmp_path / 'weights'), predicted)
    args = ['all', '--dataset_mode', dataset_mode, '--dataroot', root, '--results', results, '--segmenter_weights',
            weights, '--inception_weights', inception_weights, '--gpu_ids', '-1', '--stats_cache', '', '--dims', '64']
    code, out, err = run_evaluate(capsys, monkeypatch, *args)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert [line.split()[0] for line in lines[-3:]] == ['fid', 'miou', 'accuracy']
    miou, accuracy = EXPECTED[dataset_mode]
    assert float(lines[-2].split()[1]) == pytest.approx(miou, abs=1e-4)
    assert float(lines[-1].split()[1]) == pytest.approx(accuracy, abs=1e-4)
    with open(os.path.join(results, 'metrics.json')) as f:
        metrics = json.load(f)
    assert metrics['miou'] == pytest.approx(miou) and metrics['accuracy'] == pytest.approx(accuracy)
    assert metrics['fid'] == pytest.approx(float(lines[-3].split()[1]), abs=1e-6)
    assert "64-d features (not the paper's 2048)" in metrics['protocol']['fid'] and 'not comparable' in out
    protocol = metrics['protocol']
    assert protocol['segmenter'] == segmenter and protocol['image_count'] == 3
    assert protocol['evaluation_size'] == list(image_size) and len(protocol['weights'][0]['sha256']) == 64
    confusion = np.array(metrics['confusion_matrix'])
    scored_per_half = 3 * 14 * image_size[0] // 2
    assert confusion.sum() == 2 * scored_per_half and confusion[predicted, predicted] == scored_per_half
    named = {c['class']: c for c in metrics['per_class_iou']}
    assert named[predicted]['iou'] == pytest.approx(50.0)
    if dataset_mode == 'cityscapes':
        assert named[13]['name'] == 'car' and named[0]['name'] == 'road' and named[0]['iou'] == 0
        assert metrics['accuracy_scored_pixels'] == pytest.approx(50.0)
    maps = sorted(os.listdir(os.path.join(results, 'segmentation')))
    assert len(maps) == 4 and 'protocol.json' in maps
    assert (np.array(Image.open(os.path.join(results, 'segmentation', maps[0]))) == predicted).all()
    page = open(os.path.join(results, 'evaluation.html')).read()
    assert 'CC-FPSE' in page and page.count('<img') == 9
    assert len(os.listdir(os.path.join(results, 'evaluation', 'prediction'))) == 3
    # A rerun with the same protocol reads the maps back: no segmenter file is loaded.
    monkeypatch.setattr('models.segmenters.weights.load_state_dict_file', lambda *a: pytest.fail('segmenter loaded'))
    code, again, err = run_evaluate(capsys, monkeypatch, *args)
    assert code == 0, err
    assert again.strip().splitlines()[-2:] == lines[-2:]


@pytest.mark.slow
def test_cityscapes_variants_are_recorded(tmp_path, capsys, monkeypatch, inception_weights):
    root, results = write_case(tmp_path, 'cityscapes', count=2)
    weights = write_published_files('drn_d_105_cityscapes', str(tmp_path / 'weights'), 13)
    code, out, err = run_evaluate(capsys, monkeypatch, 'all', '--dataset_mode', 'cityscapes', '--dataroot', root,
                                  '--results', results, '--segmenter_weights', weights, '--inception_weights',
                                  inception_weights, '--stats_cache', '', '--cityscapes_full_resolution',
                                  '--drn_multi_scale', '--gpu_ids', '-1', '--dims', '64')
    assert code == 0, err
    with open(os.path.join(results, 'metrics.json')) as f:
        metrics = json.load(f)
    protocol = metrics['protocol']
    assert protocol['variants'] == {'cityscapes_full_resolution': True, 'drn_multi_scale': True,
                                    'ade20k_test_scales': False}
    # Scored at the label maps' own 64x32: all 28 rows of each half, 4 rows unscored.
    assert np.array(metrics['confusion_matrix']).sum() == 2 * 28 * 64
    assert metrics['accuracy'] == pytest.approx(28 * 32 / (32 * 64) * 100)
    assert np.array(Image.open(glob.glob(os.path.join(results, 'segmentation', '*.png'))[0])).shape == (32, 64)


def _assert_fails(capsys, monkeypatch, results, pattern, *args):
    code, out, err = run_evaluate(capsys, monkeypatch, 'all', *args, '--stats_cache', '')
    assert code == 1, (out, err)
    # Progress bars may come before it (stderr, erased); the message is one line, the last.
    last = err.strip().splitlines()[-1].strip()
    assert last.startswith('error: ') and err.count('error') == 1, err
    assert re.search(pattern, last), last
    for written in ('metrics.json', 'evaluation.html', 'segmentation'):
        assert not os.path.exists(os.path.join(results, written)), written


def test_bad_inputs_stop_with_one_line_and_write_nothing(tmp_path, capsys, monkeypatch):
    root, results = write_case(tmp_path, 'coco', count=2)
    common = ['--results', results, '--gpu_ids', '-1', '--segmenter_weights', str(tmp_path / 'none.pth')]
    _assert_fails(capsys, monkeypatch, results, r'--dataroot is required', '--dataset_mode', 'coco', *common)
    # A results folder of another dataset: its images have no COCO label map.
    ade_root = str(tmp_path / 'ade')
    write_ade20k(ade_root, phase='val', count=2, size=(32, 32))
    _assert_fails(capsys, monkeypatch, results,
                  r'synthesized_image/000000000001\.png has no label map .*another dataset',
                  '--dataset_mode', 'ade20k', '--dataroot', ade_root, *common)
    # A label map with a value no COCO-Stuff class has.
    first_label = label_files(root, 'coco')[0]
    Image.fromarray(np.full((32, 32), 200, dtype=np.uint8)).save(first_label)
    _assert_fails(capsys, monkeypatch, results, rf'label map {first_label} holds value 200',
                  '--dataset_mode', 'coco', '--dataroot', root, *common)
    Image.fromarray(np.full((32, 32), 3, dtype=np.uint8)).save(first_label)
    # Images of mixed sizes.
    second = sorted(glob.glob(os.path.join(results, 'images', 'synthesized_image', '*.png')))[1]
    Image.new('RGB', (24, 16)).save(second)
    _assert_fails(capsys, monkeypatch, results, r'synthesized images differ in size .* 24x16',
                  '--dataset_mode', 'coco', '--dataroot', root, *common)
    _assert_fails(capsys, monkeypatch, results, r'--results .* does not exist', '--dataset_mode', 'coco', '--dataroot',
                  root, '--results', str(tmp_path / 'nowhere'))


@pytest.mark.slow
def test_weights_of_another_segmenter_stop_before_anything_is_written(tmp_path, capsys, monkeypatch, inception_weights):
    root, results = write_case(tmp_path, 'coco', count=2)
    wrong = write_published_files('drn_d_105_cityscapes', str(tmp_path / 'weights'))
    _assert_fails(capsys, monkeypatch, results,
                  r'drn-d-105_ms_cityscapes\.pth is not deeplabv2_resnet101_msc-cocostuff164k-100000\.pth',
                  '--dataset_mode', 'coco', '--dataroot', root, '--results', results, '--segmenter_weights', wrong,
                  '--inception_weights', inception_weights, '--gpu_ids', '-1')


@pytest.mark.slow(seconds=20)
def test_torchrun_all_equals_one_process(tmp_path, inception_weights):
    """Two gloo processes split the segmenter's and Inception's batches (batch size 1: each takes every other
    image): the segmentation maps, the confusion matrix and the FID equal one process's exactly, and the FID equals
    pytorch-fid's for the same folders (to float32 rounding: it runs in this process, with other threads)."""
    import shutil
    import torch
    from unittest import mock
    from helpers import run_in_own_process, torchrun
    root, results = write_case(tmp_path, 'coco', count=5)
    weights = write_published_files('deeplabv2_cocostuff', str(tmp_path / 'weights'), 7)
    two = str(tmp_path / 'results_two')
    shutil.copytree(results, two)
    common = ['all', '--dataset_mode', 'coco', '--dataroot', root, '--segmenter_weights', weights,
              '--inception_weights', inception_weights, '--gpu_ids', '-1', '--stats_cache', '', '--dims', '64',
              '--batch_size', '1']
    one_run = run_in_own_process('scripts/evaluate.py', *common, '--results', results)
    two_run = torchrun('scripts/evaluate.py', *common, '--results', two)
    assert two_run.returncode == 0, two_run.stderr[-3000:]
    assert two_run.stdout.count('metrics.json and evaluation.html') == 1  # rank 0 alone reports and writes
    metrics = [json.load(open(os.path.join(folder, 'metrics.json'))) for folder in (results, two)]
    assert metrics[0]['fid'] == metrics[1]['fid'] and metrics[0]['confusion_matrix'] == metrics[1]['confusion_matrix']
    assert metrics[1]['protocol']['image_count'] == 5 and np.array(metrics[1]['confusion_matrix']).sum() == 5 * 14 * 16
    assert one_run.stdout.splitlines()[-3:] == two_run.stdout.splitlines()[-3:]
    maps = [{f: open(os.path.join(folder, 'segmentation', f), 'rb').read()
             for f in os.listdir(os.path.join(folder, 'segmentation'))} for folder in (results, two)]
    assert maps[0] == maps[1] and len(maps[1]) == 6  # five maps and protocol.json
    import pytorch_fid.inception as inception
    from pytorch_fid.fid_score import calculate_fid_given_paths
    with mock.patch.object(inception, 'load_state_dict_from_url',
                           lambda *a, **k: torch.load(inception_weights, weights_only=True)):
        expected = calculate_fid_given_paths([os.path.join(two, 'images',
                                                           kind) for kind in ('real_image', 'synthesized_image')],
                                             1, 'cpu', 64, num_workers=0)
    # This process sums with more threads than the runs' one: equal to float32 rounding, not bit for bit.
    assert metrics[1]['fid'] == pytest.approx(expected, rel=1e-6)


@pytest.mark.slow
def test_training_scores_mIoU_and_accuracy_and_keeps_the_best_by_the_named_metric(tmp_path, inception_weights):
    """--eval_freq during training: the protocol's scores of the validation images (the segmenter's weights predict
    class 7 everywhere on maps whose left half is class 3 and right half 7: mIoU 25, accuracy 50, whatever the
    generator makes), logged, plotted, and best_* chosen by --best_metric miou."""
    from helpers import SMALL_PREDICTORS, run_script
    from dataset_writers import write_coco
    root = str(tmp_path / 'coco')
    write_coco(root, phase='train', count=4, size=(64, 64))
    write_coco(root, phase='val', count=2, size=(64, 64))
    label = np.full((64, 64), 3, dtype=np.uint8)
    label[:, 32:] = 7
    for path in label_files(root, 'coco'):
        Image.fromarray(label).save(path)
    weights = write_published_files('deeplabv2_cocostuff', str(tmp_path / 'weights'), 7)
    result = run_script('train.py', '--dataset_mode', 'coco', '--dataroot', root, '--name', 'ev', '--checkpoints_dir',
                        str(tmp_path / 'ck'), '--ngf', '4', '--ndf', '4', *SMALL_PREDICTORS, '--crop_size', '64',
                        '--no_vgg_loss', '--gpu_ids', '-1', '--batchSize', '2', '--niter', '1', '--eval_freq', '2',
                        '--best_metric', 'miou', '--segmenter_weights', weights, '--inception_weights',
                        inception_weights, '--fid_dims', '64')
    assert result.returncode == 0, result.stderr[-3000:]
    folder = tmp_path / 'ck' / 'ev'
    log = (folder / 'validation_log.txt').read_text().splitlines()
    assert len(log) == 2 and all(re.search(r'fid [\d.]+ miou 25\.0000 accuracy 50\.0000$', line) for line in log)
    best = json.loads((folder / 'best_miou.json').read_text())
    assert best['miou'] == pytest.approx(25.0) and best['iteration'] == 2  # the second evaluation is no better
    assert (folder / 'best_net_G.pth').is_file() and len(os.listdir(folder / 'validation' / 'segmentation')) == 3
    scores = json.loads((folder / 'loss_history.json').read_text())['scores']
    assert [len(scores[name]) for name in ('FID', 'mIoU', 'accuracy')] == [2, 2, 2]
    assert 'mIoU and accuracy' in (folder / 'web' / 'index.html').read_text()
    assert result.stdout.count('mIoU 25.000, accuracy 50.000') == 2


@pytest.mark.slow
def test_all_with_model_synthesizes_then_scores_as_test_py_then_all(tmp_path, capsys, monkeypatch, inception_weights):
    """`all --model SOURCE` is test.py --model on the validation split followed by `all --results`."""
    from helpers import run_script, save_trained_looking_model
    root, _ = write_case(tmp_path, 'coco')
    save_trained_looking_model(str(tmp_path / 'ck'), 'coco_toy',
                               ['--dataset_mode', 'coco', '--use_vae', '--crop_size', '64'])
    model = str(tmp_path / 'ck' / 'coco_toy')
    weights = write_published_files('deeplabv2_cocostuff', str(tmp_path / 'weights'), 7)
    common = ['--dataset_mode', 'coco', '--dataroot', root, '--segmenter_weights', weights, '--inception_weights',
              inception_weights, '--gpu_ids', '-1', '--stats_cache', '', '--dims', '64']
    code, out, err = run_evaluate(capsys, monkeypatch, 'all', *common, '--model', model, '--results_dir',
                                  str(tmp_path / 'one_step'))
    assert code == 0, err
    two_step = run_script('test.py', '--model', model, '--dataroot', root, '--results_dir', str(tmp_path / 'two_step'),
                          '--batchSize', '8', '--gpu_ids', '-1')
    assert two_step.returncode == 0, two_step.stderr[-2000:]
    results = tmp_path / 'two_step' / 'coco_toy' / 'test_latest'
    code, again, err = run_evaluate(capsys, monkeypatch, 'all', *common, '--results', str(results))
    assert code == 0, err
    assert out.strip().splitlines()[-3:] == again.strip().splitlines()[-3:]
    metrics = json.loads((tmp_path / 'one_step' / 'coco_toy' / 'test_latest' / 'metrics.json').read_text())
    assert metrics['protocol']['image_count'] == 3
    code, out, err = run_evaluate(capsys, monkeypatch, 'all', *common)
    assert code == 1 and 'give --results' in err
