"""Dataset preparation (COCO-Stuff instance maps as SPADE's script writes them) and the dataset check."""
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from helpers import run_script
from data.coco_instances import instance_map, polygon_mask
from dataset_writers import write_ade20k, write_cityscapes, write_coco, write_custom

LABEL_VALUE = 100  # the label map of the hand-made image: one stuff class everywhere


def run(script, *args):
    return run_script(os.path.join('scripts', script), *args)


def square(x0, y0, x1, y1):
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def hand_made_coco(root):
    """Two images; the first with overlapping objects, one of two polygons, a crowd object and a polygon at the
    border, listed with descending ids so that only the file's order can give the expected result."""
    annotations = {
        'images': [{'id': 7, 'file_name': 'b_jpg_name.jpg', 'width': 5, 'height': 4},   # no objects
                   {'id': 3, 'file_name': 'a.jpg', 'width': 8, 'height': 6}],
        'annotations': [
            {'id': 40, 'image_id': 3, 'category_id': 1, 'iscrowd': 0, 'segmentation': [square(1, 1, 4, 3)]},  # 0
            {'id': 30, 'image_id': 3, 'category_id': 1, 'iscrowd': 1,
             'segmentation': {'counts': [0, 48], 'size': [6, 8]}},      # skipped
            {'id': 20, 'image_id': 3, 'category_id': 1, 'iscrowd': 0,
             'segmentation': [square(3, 2, 6, 5), square(6, 4, 8, 6)]},  # 1
            {'id': 10, 'image_id': 3, 'category_id': 1, 'iscrowd': 0, 'segmentation': [square(0, 0, 2, 2)]},  # 2
        ],
        'categories': [{'id': 1, 'name': 'person', 'supercategory': 'person'}],
    }
    os.makedirs(os.path.join(root, 'labels'))
    with open(os.path.join(root, 'instances.json'), 'w') as f:
        json.dump(annotations, f)
    Image.fromarray(np.full((6, 8), LABEL_VALUE, np.uint8)).save(os.path.join(root, 'labels', 'a.png'))
    Image.fromarray(np.arange(20, dtype=np.uint8).reshape(4, 5)).save(os.path.join(root, 'labels', 'b_png_name.png'))
    return root


# Worked out by hand from SPADE's rules: vertices shifted by -1, pixel (r, c) inside when c lies left of an odd
# number of edges spanning r (an edge spans rows min(y) <= r < max(y)); objects numbered 0, 1, 2 in file order, the
# crowd object skipped; later objects over earlier ones; the third object's top-left corner lies outside the image.
_ = LABEL_VALUE
EXPECTED_A = np.array([
    [2, 0, 0, _, _, _, _, _],   # object 0: rows 0-1, columns 0-2; object 2: row 0, column 0 (clipped)
    [0, 0, 1, 1, 1, _, _, _],   # object 1, first polygon: rows 1-3, columns 2-4
    [_, _, 1, 1, 1, _, _, _],
    [_, _, 1, 1, 1, 1, 1, _],   # object 1, second polygon: rows 3-4, columns 5-6
    [_, _, _, _, _, 1, 1, _],
    [_, _, _, _, _, _, _, _],
], dtype=np.uint8)


def test_instance_maps_equal_spades_rules_worked_out_by_hand(tmp_path):
    root = hand_made_coco(str(tmp_path))
    result = run('prepare_coco_stuff.py', '--annotation_file', f'{root}/instances.json', '--input_label_dir',
                        f'{root}/labels', '--output_instance_dir', f'{root}/inst', '--workers', '2')
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(tmp_path / 'inst')) == ['a.png', 'b_png_name.png']  # every "jpg" became "png"
    assert np.array_equal(np.array(Image.open(tmp_path / 'inst' / 'a.png')), EXPECTED_A)
    assert np.array_equal(np.array(Image.open(tmp_path / 'inst' / 'b_png_name.png')), np.arange(20).reshape(4, 5))


def scalar_rule(xs, ys, shape):
    """The even-odd test written out pixel by pixel, as the scikit-image SPADE used applies it."""
    mask = np.zeros(shape, dtype=bool)
    for r in range(shape[0]):
        for c in range(shape[1]):
            inside, j = False, len(xs) - 1
            for i in range(len(xs)):
                crosses = (ys[i] <= r < ys[j]) or (ys[j] <= r < ys[i])
                if crosses and c < (xs[j] - xs[i]) * (r - ys[i]) / (ys[j] - ys[i]) + xs[i]:
                    inside = not inside
                j = i
            mask[r, c] = inside
    return mask


def test_polygon_rule_on_random_polygons():
    rng = np.random.default_rng(0)
    for trial in range(200):
        h, w = rng.integers(4, 20, 2)
        n = rng.integers(3, 8)
        if trial % 2:  # integer vertices, on pixel centres and the border
            xs, ys = rng.integers(-2, w + 2, n).astype(float), rng.integers(-2, h + 2, n).astype(float)
        else:
            xs, ys = rng.uniform(-3, w + 2, n), rng.uniform(-3, h + 2, n)
        assert np.array_equal(polygon_mask(xs, ys, (h, w)), scalar_rule(xs, ys, (h, w))), (xs, ys)


def test_instance_counts_wrap_at_256():
    label = np.zeros((1, 300), np.uint8)
    objects = [[square(i + 1, 1, i + 2, 2)] for i in range(300)]  # object i covers pixel (0, i)
    assert instance_map(label, objects)[0].tolist() == [i % 256 for i in range(300)]


def test_resume_skips_written_maps_unless_overwrite(tmp_path):
    root = hand_made_coco(str(tmp_path))
    args = ['--annotation_file', f'{root}/instances.json', '--input_label_dir', f'{root}/labels',
            '--output_instance_dir', f'{root}/inst', '--workers', '1']
    assert run('prepare_coco_stuff.py', *args).returncode == 0
    Image.fromarray(np.zeros((6, 8), np.uint8)).save(tmp_path / 'inst' / 'a.png')  # "an earlier run's output"
    os.remove(tmp_path / 'inst' / 'b_png_name.png')
    result = run('prepare_coco_stuff.py', *args)
    assert result.returncode == 0 and '1 of 2 instance maps exist already' in result.stdout
    assert np.array(Image.open(tmp_path / 'inst' / 'a.png')).max() == 0  # kept
    assert (tmp_path / 'inst' / 'b_png_name.png').is_file()  # written again
    assert run('prepare_coco_stuff.py', *args, '--overwrite').returncode == 0
    assert np.array_equal(np.array(Image.open(tmp_path / 'inst' / 'a.png')), EXPECTED_A)
    assert not [f for f in os.listdir(tmp_path / 'inst') if f.endswith('.tmp')]


def test_preparation_bad_input(tmp_path):
    root = hand_made_coco(str(tmp_path))
    common = ['--input_label_dir', f'{root}/labels', '--output_instance_dir', f'{root}/inst']
    result = run('prepare_coco_stuff.py', '--annotation_file', f'{root}/none.json', *common)
    assert result.returncode == 1 and result.stderr.strip().splitlines() == [
        f'error: --annotation_file {root}/none.json: no such file (instances_train2017.json or instances_val2017.json '
        "from COCO's annotations_trainval2017.zip)"]
    for content, says in (('[1, 2]', 'holds a JSON list, not the dict'), ('{"images": 3', 'not readable JSON'),
                          ('not json', 'not readable JSON'), ('{"images": 3}', 'not a COCO annotation file')):
        (tmp_path / 'bad.json').write_text(content)
        result = run('prepare_coco_stuff.py', '--annotation_file', str(tmp_path / 'bad.json'), *common)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1 and len(lines) == 1 and 'bad.json' in lines[0] and says in lines[0], content
    assert not (tmp_path / 'inst').exists()
    # a label map the annotations list but that is missing: the other maps are written, the missing one named
    os.remove(tmp_path / 'labels' / 'b_png_name.png')
    result = run('prepare_coco_stuff.py', '--annotation_file', f'{root}/instances.json', *common)
    assert result.returncode == 1 and 'b_png_name.png: missing' in result.stderr
    assert os.listdir(tmp_path / 'inst') == ['a.png']
    # an output folder that cannot be written
    (tmp_path / 'file').write_text('x')
    result = run('prepare_coco_stuff.py', '--annotation_file', f'{root}/instances.json', '--input_label_dir',
                        f'{root}/labels', '--output_instance_dir', str(tmp_path / 'file' / 'inst'))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1
    assert 'cannot write to' in lines[0] and '--output_instance_dir' in lines[0]


GOOD_DATASETS = {
    'coco': lambda root: (write_coco(root, 'train', count=4), ['--dataset_mode', 'coco']),
    'ade20k': lambda root: (write_ade20k(root, 'train', count=4), ['--dataset_mode', 'ade20k']),
    'cityscapes': lambda root: (write_cityscapes(root, 'train', count=4), ['--dataset_mode', 'cityscapes']),
    'custom': lambda root: (None,
                            ['--dataset_mode', 'custom', '--no_instance', '--label_dir', write_custom(root, count=4)[0],
                                   '--image_dir', os.path.join(root, 'photos')]),
}


@pytest.mark.parametrize('layout', GOOD_DATASETS)
def test_check_dataset_passes_a_good_dataset_of_each_layout(layout, tmp_path):
    _, args = GOOD_DATASETS[layout](str(tmp_path))
    result = run('check_dataset.py', *args, '--dataroot', str(tmp_path), '--batchSize', '2', '--workers', '2')
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'items        4 complete, 0 files without their partner' in result.stdout
    assert 'none: training would run' in result.stdout


def test_check_dataset_names_every_faulty_file(tmp_path):
    root = str(tmp_path)
    write_coco(root, 'train', count=6, label_nc=100)
    names = sorted(os.listdir(tmp_path / 'train_label'))
    os.remove(tmp_path / 'train_img' / names[0].replace('.png', '.jpg'))             # label map without photo
    truncated = tmp_path / 'train_label' / names[1]
    truncated.write_bytes(truncated.read_bytes()[:50])                               # truncated label map
    label = np.array(Image.open(tmp_path / 'train_label' / names[2]))
    label[0, :3] = 190
    label[1, 0] = 200
    Image.fromarray(label).save(tmp_path / 'train_label' / names[2])                 # an id above --label_nc 182
    os.remove(tmp_path / 'train_inst' / names[3])                                    # no instance map
    photo = tmp_path / 'train_img' / names[4].replace('.png', '.jpg')
    Image.open(photo).resize((20, 20)).save(photo)                                   # photo of another size
    Image.new('RGB', (37, 29)).save(tmp_path / 'train_img' / 'stray.jpg')            # photo without label map
    result = run('check_dataset.py', '--dataset_mode', 'coco', '--dataroot', root, '--batchSize', '1')
    assert result.returncode == 1
    out = result.stdout
    assert f'label map {tmp_path}/train_label/{names[0]}: no photo {tmp_path}/train_img/{names[0][:-4]}.jpg' in out
    assert f'label map {truncated} is truncated or not a readable image' in out
    # COCO-Stuff's classes are fixed: the file is named, with its ids and pixel counts, and no option is suggested.
    assert (f'label map {tmp_path}/train_label/{names[2]}: ids 190 (3 px), 200 (1 px) outside 0..182' in out)
    assert 'use --label_nc' not in out
    assert f'label map {tmp_path}/train_label/{names[3]}: no instance map' in out
    assert f'{photo}: 20x20, but its label map' in out
    assert 'stray.jpg: no label map' in out
    assert '6 problems:' in out


def test_check_dataset_says_which_options_the_ids_need(tmp_path):
    label_dir, image_dir = write_custom(str(tmp_path), count=3, label_nc=20)
    result = run('check_dataset.py', '--dataset_mode', 'custom', '--no_instance', '--label_dir', label_dir,
                        '--image_dir', image_dir, '--label_nc', '13', '--batchSize', '5')
    assert result.returncode == 1
    assert 'use --label_nc 20' in result.stdout and 'fewer than --batchSize 5' in result.stdout
    shutil.rmtree(image_dir)
    result = run('check_dataset.py', '--dataset_mode', 'custom', '--no_instance', '--label_dir', label_dir,
                        '--image_dir', image_dir)
    assert result.returncode == 1 and result.stderr.strip().splitlines()[-1].startswith('error: ')


def test_check_dataset_help_lists_its_own_option_and_the_training_options():
    result = run('check_dataset.py', '--help')
    assert result.returncode == 0, result.stderr
    assert result.stdout.index('--workers WORKERS') < result.stdout.index('--dataroot DATAROOT')
    # the description's usage lines stay as written
    assert '\npython scripts/check_dataset.py --dataset_mode coco --dataroot datasets/coco_stuff' in result.stdout


def test_check_dataset_lists_the_first_20_files_with_ids_beyond_a_fixed_class_count():
    from argparse import Namespace
    from data.dataset_check import DatasetReport, ItemReport
    opt = Namespace(dataset_mode='cityscapes', num_labels=35, label_nc=35, contain_dontcare_label=False, batchSize=1)
    items = [(f'gtFine/{i:02d}_labelIds.png', f'{i:02d}.png', None) for i in range(23)]
    reports = [ItemReport(label_pixels={7: 100, 40 + i: i + 1}) for i in range(23)]
    lines = DatasetReport(items, [], reports, opt).label_problems()
    assert lines[0] == 'label map gtFine/00_labelIds.png: ids 40 (1 px) outside 0..34'
    assert lines[19].startswith('label map gtFine/19_labelIds.png: ids 59 (20 px)')
    assert lines[20] == '3 more label maps hold ids outside 0..34' and len(lines) == 21
    custom = Namespace(**{**vars(opt), 'dataset_mode': 'custom'})
    assert DatasetReport(items, [], reports, custom).label_problems() == [
        'label ids up to 62 are found, but --label_nc 35 without --contain_dontcare_label allows 0..34: '
        'use --label_nc 63']
