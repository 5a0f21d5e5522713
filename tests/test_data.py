"""Datasets in their real on-disk layouts, every preprocess mode, the synthetic set, and bad input."""
import os

import numpy as np
import pytest
import torch
from PIL import Image

import data
from helpers import make_test_opt, run_script, train_opt
from options.data_settings import data_settings
from data.errors import DatasetError
from data.classes import label_set
from data.synthetic_dataset import class_colors
from dataset_writers import write_ade20k, write_celebamask_hq, write_cityscapes, write_coco, write_custom

MODES_AND_SHAPES = {  # written images are 37x29 (w x h); --load_size 40 --crop_size 24
    'resize_and_crop': (24, 24), 'crop': (24, 24), 'scale_width': (31, 40), 'scale_width_and_crop': (24, 24),
    'scale_shortside': (29, 51), 'scale_shortside_and_crop': (24, 24), 'fixed': (24, 24), 'none': (32, 32),
}


@pytest.fixture(scope='module')
def coco_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('coco'))
    write_coco(root, 'train')
    write_coco(root, 'val', count=2, seed=1)
    return root


def check_item(item, label_nc, shape, instance=True):
    label, image = item['label'], item['image']
    assert label.shape == (1, *shape) and image.shape == (3, *shape)
    assert torch.equal(label, label.round()) and label.min() >= 0 and label.max() <= label_nc
    assert image.min() >= -1 and image.max() <= 1 and image.std() > 0.1
    if instance:
        assert item['instance'].shape == (1, *shape) and item['instance'].dtype == torch.int64


@pytest.mark.parametrize('mode', MODES_AND_SHAPES)
def test_coco_every_preprocess_mode(coco_root, mode):
    opt = train_opt('--dataset_mode', 'coco', '--dataroot', coco_root, '--preprocess_mode', mode,
                    '--load_size', '40', '--crop_size', '24')
    dataset = data.create_dataset(data_settings(opt))
    assert len(dataset) == 3
    for index in range(len(dataset)):
        item = dataset[index]
        check_item(item, 182, MODES_AND_SHAPES[mode])
        raw = item['label'].clone()
        raw[raw == 182] = 255
        # instance ids were written as the label id, +1 in the bottom-right quadrant; nearest keeps that relation
        assert set((item['instance'] - raw.long()).unique().tolist()) <= {0, 1}
        assert os.path.basename(item['path']) == os.path.basename(dataset.label_paths[index]).replace('.png', '.jpg')


def test_coco_ids_and_dontcare_exact_without_resizing(coco_root):
    opt = train_opt('--dataset_mode', 'coco', '--dataroot', coco_root, '--preprocess_mode', 'fixed',
                    '--crop_size', '37', '--aspect_ratio', str(37 / 29), '--no_flip')
    dataset = data.create_dataset(data_settings(opt))
    written = np.array(Image.open(dataset.label_paths[0])).astype(np.int64)
    expected = np.where(written == 255, 182, written)
    assert torch.equal(dataset[0]['label'][0].long(), torch.from_numpy(expected))
    assert (dataset[0]['label'] == 182).sum() == 6  # the written don't-care pixels


def test_coco_test_phase_reads_val_and_is_deterministic(coco_root):
    opt = make_test_opt('--dataset_mode', 'coco', '--dataroot', coco_root, '--load_size', '40', '--crop_size', '24')
    loader = data.create_dataloader(data_settings(opt))
    assert len(loader.dataset) == 2
    first, second = [next(iter(loader)) for _ in range(2)]
    assert torch.equal(first['image'], second['image']) and 'val_img' in first['path'][0]


def test_flip_and_crop_are_repeatable_per_epoch(coco_root):
    opt = train_opt('--dataset_mode', 'coco', '--dataroot', coco_root, '--load_size', '40', '--crop_size', '24')
    dataset = data.create_dataset(data_settings(opt))
    dataset.set_epoch(1)
    a = dataset[0]['image']
    assert torch.equal(a, dataset[0]['image'])
    variants = set()
    for epoch in range(2, 8):
        dataset.set_epoch(epoch)
        variants.add(dataset[0]['image'].sum().item())
    assert len(variants) > 1


def test_ade20k_layout_keeps_raw_ids(tmp_path):
    write_ade20k(str(tmp_path), 'train')
    write_ade20k(str(tmp_path), 'val', count=2)
    opt = train_opt('--dataset_mode', 'ade20k', '--dataroot', str(tmp_path), '--preprocess_mode', 'fixed',
                    '--crop_size', '41', '--aspect_ratio', str(41 / 33), '--no_flip')
    dataset = data.create_dataset(data_settings(opt))
    assert len(dataset) == 3 and all('_train_' in p for p in dataset.label_paths)
    item = dataset[0]
    check_item(item, 150, (33, 41), instance=False)
    written = np.array(Image.open(dataset.label_paths[0]))
    assert torch.equal(item['label'][0].long(), torch.from_numpy(written.astype(np.int64)))  # 0..150, unshifted
    assert item['instance'] == 0
    val = data.create_dataset(data_settings(make_test_opt('--dataset_mode', 'ade20k', '--dataroot', str(tmp_path))))
    assert len(val) == 2 and all('_val_' in p for p in val.image_paths)


def test_cityscapes_layout_with_16_bit_instances(tmp_path):
    write_cityscapes(str(tmp_path), 'train')
    opt = train_opt('--dataset_mode', 'cityscapes', '--dataroot', str(tmp_path), '--crop_size', '70',
                    '--aspect_ratio', str(70 / 34), '--no_flip')
    dataset = data.create_dataset(data_settings(opt))
    assert len(dataset) == 3
    item = dataset[1]
    check_item(item, 35, (34, 70))
    instance = np.array(Image.open(dataset.instance_paths[1])).astype(np.int64)
    assert instance.max() > 255
    assert torch.equal(item['instance'][0], torch.from_numpy(instance))
    assert torch.equal(item['instance'][0] // 1000, item['label'][0].long())
    assert os.path.basename(item['path']).startswith('aachen_000001_000019')
    opt = train_opt('--dataset_mode', 'cityscapes', '--dataroot', str(tmp_path), '--crop_size', '64')
    assert data.create_dataset(data_settings(opt))[0]['label'].shape == (1, 32, 64)


def test_celebamask_hq_layout_reads_its_edges_from_the_labels(tmp_path):
    write_celebamask_hq(str(tmp_path), 'train')
    write_celebamask_hq(str(tmp_path), 'test', count=2)
    opt = train_opt('--dataset_mode', 'celebamask_hq', '--dataroot', str(tmp_path), '--load_size', '32',
                    '--crop_size', '32', '--no_flip')
    assert (opt.label_nc, opt.contain_dontcare_label, opt.no_instance) == (19, False, False)
    dataset = data.create_dataset(data_settings(opt))
    assert len(dataset) == 3 and dataset.instance_paths == dataset.label_paths
    item = dataset[1]
    check_item(item, 19, (32, 32))  # the 64² photo and the 32² map, each resized to --load_size
    assert torch.equal(item['instance'], item['label'].long())  # SDM's loader: the labels are the instances
    assert item['path'].endswith(os.path.join('train', 'images', '1.jpg'))
    test = data.create_dataset(data_settings(make_test_opt('--dataset_mode', 'celebamask_hq', '--dataroot',
                                                           str(tmp_path))))
    assert len(test) == 2 and all(os.sep + 'test' + os.sep in p for p in test.image_paths)
    result = run_script('scripts/check_dataset.py', '--dataset_mode', 'celebamask_hq', '--dataroot', str(tmp_path),
                        '--batchSize', '1', '--workers', '1')
    assert result.returncode == 0 and 'none: training would run' in result.stdout and ' 13  hair' in result.stdout
    os.remove(tmp_path / 'train' / 'images' / '2.jpg')
    result = run_script('scripts/check_dataset.py', '--dataset_mode', 'celebamask_hq', '--dataroot', str(tmp_path),
                        '--batchSize', '1', '--workers', '1')
    expected = os.path.join(str(tmp_path), 'train', 'images', '2.jpg')
    assert result.returncode == 1 and f'no photo {expected}' in result.stdout


def test_custom_folders(tmp_path):
    label_dir, image_dir = write_custom(str(tmp_path))
    opt = train_opt('--dataset_mode', 'custom', '--label_dir', label_dir, '--image_dir', image_dir, '--no_instance',
                    '--load_size', '32', '--crop_size', '32')
    dataset = data.create_dataset(data_settings(opt))
    assert len(dataset) == 3
    check_item(dataset[2], 13, (32, 32), instance=False)
    assert dataset[2]['path'].endswith('scene2.jpg')
    missing = str(tmp_path / 'missing')
    message = expect_error('does not exist', '--dataset_mode', 'custom', '--label_dir', missing, '--image_dir',
                           image_dir, '--no_instance')
    assert message == f'--label_dir folder {missing} does not exist: give an existing folder with --label_dir'


def test_max_dataset_size_and_loader(coco_root):
    opt = train_opt('--dataset_mode', 'coco', '--dataroot', coco_root, '--max_dataset_size', '2', '--batchSize', '2',
                    '--load_size', '40', '--crop_size', '24')
    loader = data.create_dataloader(data_settings(opt))
    batch = next(iter(loader))
    assert len(loader.dataset) == 2 and batch['label'].shape == (2, 1, 24, 24) and len(batch['path']) == 2


# ---- the synthetic set ----

def test_synthetic_is_deterministic_and_splits_differ():
    opt = train_opt('--dataset_mode', 'synthetic', '--no_flip')
    a, b = data.create_dataset(data_settings(opt)), data.create_dataset(data_settings(opt))
    assert len(a) == 512
    assert torch.equal(a[3]['image'], b[3]['image']) and torch.equal(a[3]['label'], b[3]['label'])
    assert not torch.equal(a[3]['label'], a[4]['label'])
    test_set = data.create_dataset(data_settings(make_test_opt('--dataset_mode', 'synthetic')))
    assert len(test_set) == 64 and not torch.equal(test_set[3]['label'], a[3]['label'])
    other_seed = data.create_dataset(data_settings(train_opt('--dataset_mode', 'synthetic', '--no_flip', '--seed',
                                                             '1')))
    assert not torch.equal(other_seed[3]['label'], a[3]['label'])


def test_synthetic_sizes_classes_and_instances():
    opt = train_opt('--dataset_mode', 'synthetic', '--crop_size', '96', '--aspect_ratio', '2', '--max_dataset_size',
                    '10')
    dataset = data.create_dataset(data_settings(opt))
    assert len(dataset) == 10
    classes, things = set(), 0
    for index in range(len(dataset)):
        item = dataset[index]
        check_item(item, 11, (48, 96))
        classes |= set(item['label'].unique().long().tolist())
        things += int((item['instance'] >= 1000).any())
    assert classes <= set(range(12)) and len(classes) >= 8 and things > 0


def test_synthetic_class_colours_are_distinct_and_rendered():
    colors = class_colors(12)
    distances = np.linalg.norm(colors[:, None] - colors[None], axis=-1) + np.eye(12) * 10
    assert distances.min() > 0.15
    item = data.create_dataset(data_settings(train_opt('--dataset_mode', 'synthetic', '--no_flip')))[0]
    photo = (item['image'] + 1) / 2
    for cls in item['label'].unique().long().tolist():
        mask = item['label'][0] == cls
        mean = photo[:, mask].mean(1).numpy()
        assert np.abs(mean - colors[cls]).max() < 0.12, cls


def test_synthetic_classes_have_names_and_the_colours_their_photos_paint():
    labels = label_set('synthetic', 12, False)
    assert labels.names[:4] == ('sky', 'grass', 'sand', 'asphalt') and labels.names[-1] == 'white object'
    assert len(set(labels.names)) == 12
    assert np.array_equal(labels.colors, np.round(class_colors(12) * 255).astype(np.uint8))
    assert label_set('synthetic', 14, False).names[12:] == ('class 12', 'class 13')


# ---- bad input: one clear message naming the file or option ----

def expect_error(match, *args, test=False):
    opt = (make_test_opt if test else train_opt)(*args)
    with pytest.raises(DatasetError, match=match) as info:
        dataset = data.create_dataset(data_settings(opt))
        for index in range(len(dataset)):
            dataset[index]
    assert '\n' not in str(info.value)
    return str(info.value)


def test_missing_dataroot_and_split(tmp_path):
    expect_error('does not exist.*--dataroot', '--dataset_mode', 'coco', '--dataroot', str(tmp_path / 'none'))
    write_coco(str(tmp_path), 'train')
    expect_error('val_label.*does not exist', '--dataset_mode', 'coco', '--dataroot', str(tmp_path), test=True)


def test_no_images_and_count_mismatch(tmp_path):
    for kind in ('label', 'img', 'inst'):
        os.makedirs(tmp_path / f'train_{kind}')
    expect_error('no label maps', '--dataset_mode', 'coco', '--dataroot', str(tmp_path))
    write_coco(str(tmp_path), 'train')
    os.remove(tmp_path / 'train_img' / '000000000002.jpg')
    expect_error('3 label maps but 2 photos', '--dataset_mode', 'coco', '--dataroot', str(tmp_path))


def test_unpaired_names(tmp_path):
    write_coco(str(tmp_path), 'train')
    os.rename(tmp_path / 'train_img' / '000000000002.jpg', tmp_path / 'train_img' / '000000000002_x.jpg')
    message = expect_error('do not look like a pair', '--dataset_mode', 'coco', '--dataroot', str(tmp_path))
    assert '000000000002.png' in message and '000000000002_x.jpg' in message and '--no_pairing_check' in message


def test_label_id_out_of_range_names_file_id_and_options(tmp_path):
    label_dir, image_dir = write_custom(str(tmp_path), label_nc=20)
    message = expect_error('has id', '--dataset_mode', 'custom', '--label_dir', label_dir, '--image_dir', image_dir,
                           '--no_instance', '--label_nc', '13')
    assert 'scene' in message and '--label_nc 20' in message and '--contain_dontcare_label' in message


def test_rgb_label_map(tmp_path):
    label_dir, image_dir = write_custom(str(tmp_path))
    Image.open(os.path.join(label_dir, 'scene1.png')).convert('RGB').save(os.path.join(label_dir, 'scene1.png'))
    message = expect_error('RGB image', '--dataset_mode', 'custom', '--label_dir', label_dir, '--image_dir', image_dir,
                           '--no_instance')
    assert 'scene1.png' in message


def test_truncated_photo(tmp_path):
    label_dir, image_dir = write_custom(str(tmp_path))
    path = os.path.join(image_dir, 'scene0.jpg')
    with open(path, 'rb') as f:
        head = f.read(200)
    with open(path, 'wb') as f:
        f.write(head)
    message = expect_error('truncated or not a readable image', '--dataset_mode', 'custom', '--label_dir', label_dir,
                           '--image_dir', image_dir, '--no_instance')
    assert 'scene0.jpg' in message


def test_custom_needs_its_folders():
    expect_error('--label_dir', '--dataset_mode', 'custom')
    expect_error('--no_instance', '--dataset_mode', 'custom', '--label_dir', 'a', '--image_dir', 'b')
