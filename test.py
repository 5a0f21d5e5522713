"""Synthesise images for a dataset split with a trained model: results/<name>/<phase>_<which_epoch>/index.html."""
import os

import torch
from tqdm import tqdm

import data
from options.synthesis_options import synthesizer_from_options
from options.test_options import TestOptions
from util import html
from util.checkpoint import check_writable_folder
from util.errors import run_cli
from util.visualizer import save_test_images


def main() -> None:
    options = TestOptions()
    opt = options.parse()
    torch.manual_seed(opt.seed)
    synthesizer = synthesizer_from_options(opt)
    dataloader = data.create_dataloader(opt)
    print(options.format_options(opt))  # once the checkpoint and the data are found
    web_dir = os.path.join(opt.results_dir, opt.name, f'{opt.phase}_{opt.which_epoch}')
    check_writable_folder(web_dir, '--results_dir')
    webpage = html.HTML(web_dir, f'Experiment = {opt.name}, Phase = {opt.phase}, Epoch = {opt.which_epoch}')
    total = int(min(len(dataloader.dataset), opt.how_many))
    saved = 0
    with tqdm(total=total, desc='synthesizing', unit='img') as progress:
        for data_i in dataloader:
            if saved >= total:
                break
            # As the paper's numbers: with a VAE, each image's style is sampled from its real photo's encoding.
            generated = synthesizer.synthesize_batch(data_i)
            for b in range(min(generated.shape[0], total - saved)):
                visuals = {'input_label': data_i['label'][b], 'synthesized_image': generated[b],
                           'real_image': data_i['image'][b]}
                save_test_images(webpage, visuals, data_i['path'][b], opt.display_winsize, synthesizer.labels.colors)
                saved += 1
                progress.update(1)
    print(f'Test page: {webpage.save()}')


if __name__ == '__main__':
    run_cli(main)
