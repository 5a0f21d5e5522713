"""SDM (--model sdm): the public code's layout and sizes, its diffusion's published quirks (respacing, guidance, the
loss terms, when noise is drawn), seeds, and every command on a tiny model."""
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import run_script
from models.methods.sdm import other_last
from models.methods.sdm.diffusion import Diffusion, linear_betas, respaced_steps
from models.methods.sdm.networks import SDMUNet, timestep_embedding
from models.methods.sdm.objective import training_losses
from models.methods.sdm.sampling import DiffusionSynthesis, SamplingSettings
from models.methods.sdm.solver import dpm_solver_sample, dpm_solver_scheduler
from models.sources import preset_file, read_spec_file
from models.spec import ModelInputs, ModelSpec, build_networks

TINY = dict(crop_size=64, num_channels=32, num_res_blocks=1, attention_resolutions='16,8', num_head_channels=16)
TINY_OPTIONS = ['--model', 'sdm', '--dataset_mode', 'synthetic', '--num_channels', '32', '--num_res_blocks', '1',
                '--attention_resolutions', '16,8', '--num_head_channels', '16', '--batchSize', '2',
                '--max_dataset_size', '4', '--gpu_ids', '-1', '--cpu_allocator', 'system', '--ema_decay', '0.9',
                '--print_freq', '2', '--display_freq', '2']


@pytest.mark.parametrize('label_channels, width, parameters', [
    (151, 256, 660_608_518),   # ADE20K, published
    (20, 256, 653_062_918),    # CelebAMask-HQ (19 classes + edges), published
    (36, 512, 653_984_518),    # Cityscapes 256x512 by analogy (35 + edges)
    (184, 256, 662_509_318),   # COCO-Stuff by analogy (183 + edges)
])
def test_the_published_configuration_has_the_public_codes_layout_and_size(label_channels, width, parameters):
    """766 tensors, all parameters, with the public code's names; the parameter counts of its models."""
    with torch.device('meta'):
        net = SDMUNet(label_channels, crop_size=width, aspect_ratio=width / 256)
    state = net.state_dict()
    assert len(state) == 766 and not list(net.buffers())
    assert sum(p.numel() for p in net.parameters()) == parameters
    shapes = {'time_embed.0.weight': (1024, 256), 'input_blocks.0.0.weight': (256, 3, 3, 3),
              'input_blocks.10.1.qkv.weight': (1536, 512, 1), 'out.2.weight': (6, 256, 3, 3),
              'middle_block.0.in_norm.mlp_shared.0.weight': (128, label_channels, 3, 3),
              'output_blocks.2.2.in_layers.1.weight': (1024, 1024, 3, 3),  # an up-block after attention: .2
              'output_blocks.11.1.in_layers.1.weight': (512, 512, 3, 3)}   # without attention: .1
    assert {k: tuple(state[k].shape) for k in shapes} == shapes
    with torch.device('meta'):
        again = SDMUNet(label_channels, crop_size=width, aspect_ratio=width / 256)
    again.load_state_dict(state, strict=True, assign=True)


@pytest.mark.parametrize('preset, dataset_mode, num_labels, edges, parameters', [
    ('sdm_ade20k', 'ade20k', 151, False, 660_608_518), ('sdm_celeba', 'celebamask_hq', 19, True, 653_062_918)])
def test_the_presets_describe_the_released_models(preset, dataset_mode, num_labels, edges, parameters):
    spec = read_spec_file(preset_file(preset))
    assert (spec.method, spec.inputs.dataset_mode, spec.inputs.num_labels, spec.reads_instances) == (
        'sdm', dataset_mode, num_labels, edges)
    assert spec.released_files == {'G': 'ema_0.9999_{epoch}.pt'}
    with torch.device('meta'):
        assert build_networks(spec, torch.device('meta'))['G'].num_parameters() == parameters


def test_the_published_learning_rates_are_the_defaults():
    from options.train_options import TrainOptions
    rates = {mode: TrainOptions().parse(['--model', 'sdm', '--dataset_mode', mode, '--gpu_ids', '-1'], quiet=True).lr
             for mode in ('ade20k', 'celebamask_hq')}
    assert rates == {'ade20k': 1e-4, 'celebamask_hq': 2e-5}  # scripts/ade20k.sh, scripts/celeba.sh


def tiny_unet(label_channels=13, seed=0):
    torch.manual_seed(seed)
    net = SDMUNet(label_channels, **TINY)
    with torch.no_grad():  # the zero-initialised layers would make every output 0
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net.eval()


def test_a_fresh_unet_outputs_zero_and_the_timestep_embedding_is_cos_then_sin():
    torch.manual_seed(0)
    net = SDMUNet(13, **TINY)
    out = net(torch.randn(2, 3, 64, 64), torch.tensor([0, 999]), torch.rand(2, 13, 64, 64))
    assert out.shape == (2, 6, 64, 64) and torch.count_nonzero(out) == 0
    embedding = timestep_embedding(torch.tensor([5]), 8)
    frequencies = torch.exp(-np.log(10000) * torch.arange(4, dtype=torch.float32) / 4)
    assert torch.equal(embedding[0, :4], torch.cos(5 * frequencies)) and torch.equal(embedding[0, 4:],
                                                                                     torch.sin(5 * frequencies))


def test_the_label_reaches_only_the_decoder():
    """The encoder sees the noisy image alone: changing the label map changes nothing before the middle block."""
    net = tiny_unet()
    seen = []
    net.input_blocks[-1].register_forward_hook(lambda module, args, output: seen.append(output))
    x, t = torch.randn(1, 3, 64, 64), torch.tensor([500])
    with torch.no_grad():
        a = net(x, t, torch.zeros(1, 13, 64, 64))
        b = net(x, t, torch.ones(1, 13, 64, 64))
    assert torch.equal(seen[0], seen[1]) and not torch.equal(a, b)


def test_respacing_follows_the_public_code():
    assert respaced_steps(1000, 'ddim25') == list(range(0, 1000, 40))  # starts at 960, not 999
    assert respaced_steps(1000, 'ddim50')[-1] == 980 and respaced_steps(1000, 'ddim100')[-1] == 990
    kept = respaced_steps(1000, '25')
    assert len(kept) == 25 and 166 in kept and 832 in kept and 167 not in kept  # Python's round: half to even
    betas = linear_betas()
    assert betas[0] == 1e-4 and betas[-1] == 0.02 and betas.dtype == np.float64
    diffusion = Diffusion('ddim25')
    assert diffusion.num_timesteps == 25 and diffusion.timestep_map[-1] == 960
    abar = np.cumprod(1 - betas)
    assert np.allclose(diffusion.tables['alphas_cumprod'], abar[::40], rtol=1e-12, atol=0)
    log_var = diffusion.tables['posterior_log_variance_clipped']
    assert log_var[0] == log_var[1]  # the first (zero) posterior variance takes the second's log


class Recorder:
    """A stand-in network: eps = the label's mean, v = t / 1000; records each call's label."""

    def __init__(self):
        self.labels = []

    def __call__(self, x, t, label):
        self.labels.append(label.clone())
        eps = label.mean(dim=1, keepdim=True).expand_as(x)
        return torch.cat([eps, (t.float() / 1000)[:, None, None, None].expand_as(x)], dim=1)


def test_guidance_mixes_the_noise_only_with_an_all_zero_null_label():
    diffusion = Diffusion()
    x, t = torch.randn(2, 3, 8, 8), torch.tensor([10, 700])
    label = torch.rand(2, 5, 8, 8)
    model = Recorder()
    guided = diffusion.guided_output(model, x, t, label, guidance=1.5)
    assert len(model.labels) == 2 and torch.count_nonzero(model.labels[1]) == 0  # edges zeroed too
    conditional = label.mean(dim=1, keepdim=True).expand_as(x)
    assert torch.allclose(guided[:, :3], 1.5 * conditional, atol=1e-6)  # u + s (c - u), u = 0
    assert torch.equal(guided[:, 3:], model(x, diffusion.timestep_map[t], label)[:, 3:])  # the conditional variance
    for scale in (1.0, 0.5):  # s <= 1: one conditional pass
        model = Recorder()
        diffusion.guided_output(model, x, t, label, guidance=scale)
        assert len(model.labels) == 1


def test_the_loss_is_mse_plus_the_bound_which_trains_the_variance_only():
    diffusion = Diffusion()
    x0 = torch.rand(2, 3, 8, 8) * 2 - 1
    noise = torch.randn(2, 3, 8, 8)
    output = torch.randn(2, 6, 8, 8, requires_grad=True)
    t = torch.tensor([0, 400])
    terms = training_losses(diffusion, lambda x, steps, label: output, x0, t, None, noise)
    assert torch.allclose(terms['loss'], terms['mse'] + terms['vb'])
    assert torch.allclose(terms['mse'], ((noise - output[:, :3]) ** 2).mean(dim=(1, 2, 3)))
    terms['vb'].sum().backward()
    assert torch.count_nonzero(output.grad[:, :3]) == 0 and torch.count_nonzero(output.grad[:, 3:]) > 0


def test_sampling_draws_its_noise_after_the_network_even_where_it_is_not_used():
    """p_sample and ddim_sample (eta 0) each draw one normal tensor after the network calls, also at t = 0."""
    diffusion = Diffusion('ddim10')
    x, label = torch.randn(1, 3, 8, 8), torch.rand(1, 5, 8, 8)

    def drawing(x, t, label):  # a network that draws from the global generator too
        torch.rand(1)
        return Recorder()(x, t, label)
    for step in (diffusion.p_sample, diffusion.ddim_sample):
        torch.manual_seed(3)
        step(drawing, x, torch.tensor([0]), label)
        after = torch.randn(1)
        torch.manual_seed(3)
        torch.rand(1)          # the network's draw
        torch.randn_like(x)    # then the step's noise
        assert torch.equal(torch.randn(1), after)
    expected = diffusion.posterior_of_output(Recorder()(x, diffusion.timestep_map[:1], label), x, torch.tensor([0]))
    assert torch.equal(diffusion.p_sample(Recorder(), x, torch.tensor([0]), label)['sample'], expected['mean'])


@pytest.mark.filterwarnings('ignore::DeprecationWarning')  # the library's use of numpy's __array__
def test_the_librarys_ddim_and_first_order_solver_equal_the_public_ddim_step_for_step():
    """The few-step solver is diffusers' DPM-Solver++: on the public code's schedule, the library's DDIM and its
    first-order solver (which is DDIM) equal the public DDIM-25 (clipped x0, eta 0) on the same network outputs, to
    the library's float32 tables."""
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler
    ours = Diffusion('ddim25')
    ddim = DDIMScheduler(num_train_timesteps=1000, trained_betas=linear_betas(), clip_sample=True,
                         set_alpha_to_one=True, steps_offset=0, timestep_spacing='leading')
    ddim.set_timesteps(25)
    first_order = DPMSolverMultistepScheduler.from_config(dpm_solver_scheduler(25).config, solver_order=1)
    first_order.set_timesteps(timesteps=ours.timestep_map.flip(0).tolist())
    assert ddim.timesteps.tolist() == ours.timestep_map.flip(0).tolist() == first_order.timesteps.tolist()
    torch.manual_seed(0)
    x = y = z = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    for index in range(24, -1, -1):
        output = torch.randn(2, 6, 8, 8, dtype=torch.float64)
        step = int(ours.timestep_map[index])
        x = ours.ddim_sample(lambda *args: output, x, torch.full((2,), index), None)['sample']
        y = ddim.step(output[:, :3], step, y, eta=0.0, use_clipped_model_output=True).prev_sample
        z = first_order.step(output[:, :3], step, z).prev_sample
        assert (x - y).abs().max() < 1e-5 and (x - z).abs().max() < 1e-5, index


def test_the_solver_takes_its_steps_in_two_network_evaluations_each_from_the_seed():
    from models.synthesizer import Synthesizer
    net = tiny_unet()
    calls = []

    def counted(x, t, label):
        calls.append(int(t[0]))
        return net(x, t, label)
    settings = SamplingSettings(sampler='dpm++', guidance=1.5)
    assert (settings.step_count, settings.network_evaluations, settings.respacing) == (20, 40, None)
    label = torch.rand(1, 13, 64, 64)
    noise = DiffusionSynthesis.noise_of(None, torch.tensor([4]), label.device)
    images = dpm_solver_sample(counted, label, (1, 3, 64, 64), 5, 1.5, noise=noise)
    assert calls == [999, 999, 799, 799, 599, 599, 400, 400, 200, 200]  # 'linspace' from 999, conditional first
    assert images.abs().max() <= 1 and images.shape == (1, 3, 64, 64)
    spec = ModelSpec.describe(ModelInputs('synthetic', 12, False, False), method='sdm', G=net)
    synthesizer = Synthesizer(net, None, spec, sampling={'sampler': 'dpm++', 'steps': 5, 'progress': False})
    semantics = synthesizer.semantics(torch.randint(0, 12, (2, 1, 64, 64)))
    both = synthesizer.generate(semantics, synthesizer.styles_from_seeds([2, 3]))
    alone = synthesizer.generate(semantics[1:], synthesizer.styles_from_seeds([3]))
    assert (both[1:] - alone).abs().max() < 1e-3 and (both[0] - both[1]).abs().max() > 0.1


def test_ade20k_other_is_the_last_channel():
    inputs = ModelInputs('ade20k', 150, True, True, label_order='other_last')
    assert other_last(torch.tensor([0, 1, 150]), inputs).tolist() == [150, 0, 149]
    coco = ModelInputs('coco', 182, True, False, label_order='other_last')
    assert other_last(torch.tensor([0, 182]), coco).tolist() == [0, 182]


def test_an_image_depends_on_its_seed_alone():
    from models.synthesizer import Synthesizer
    net = tiny_unet()
    spec = ModelSpec.describe(ModelInputs('synthetic', 12, False, False), method='sdm', G=net)
    synthesizer = Synthesizer(net, None, spec, sampling={'sampler': 'ddim', 'steps': 3, 'progress': False})
    assert synthesizer.takes_code
    semantics = synthesizer.semantics(torch.randint(0, 12, (2, 1, 64, 64)))
    both = synthesizer.generate(semantics, synthesizer.styles_from_seeds([2, 3]))
    alone = synthesizer.generate(semantics[1:], synthesizer.styles_from_seeds([3]))
    # the same noise whatever the batch (the batch's size changes the convolutions' rounding only)
    assert (both[1:] - alone).abs().max() < 1e-4 and (both[0] - both[1]).abs().max() > 0.1
    with pytest.raises(Exception, match='--sampler'):
        Synthesizer(net, None, spec, sampling={'sampler': 'euler'})


@pytest.mark.slow(seconds=30)
def test_a_tiny_sdm_trains_resumes_exactly_and_serves_the_commands(tmp_path):
    ck = str(tmp_path / 'ck')
    for name, epochs, extra in (('once', '2', []), ('twice', '1', []), ('twice', '2', ['--continue_train'])):
        result = run_script('train.py', *TINY_OPTIONS, '--drop_rate', '0.2', '--name', name, '--checkpoints_dir', ck,
                            '--niter', epochs, *extra)
        assert result.returncode == 0, result.stderr[-3000:]
    for label in ('G', 'G_ema'):  # bit-identical, label dropping and timestep draws included
        a = torch.load(os.path.join(ck, 'once', f'latest_net_{label}.pth'), weights_only=True)
        b = torch.load(os.path.join(ck, 'twice', f'latest_net_{label}.pth'), weights_only=True)
        assert all(torch.equal(a[k], b[k]) for k in a), label
    # Fine-tuning (the public guidance fine-tuning: a new run, a fresh optimizer): at --lr 0 nothing moves, so the
    # new run's G and its average are the source's G.
    tuned = run_script('train.py', *TINY_OPTIONS, '--drop_rate', '0.2', '--name', 'tuned', '--checkpoints_dir', ck,
                       '--niter', '1', '--lr', '0', '--init_from', os.path.join(ck, 'once'))
    assert tuned.returncode == 0 and 'fine-tuning from' in tuned.stdout, tuned.stderr[-3000:]
    source = torch.load(os.path.join(ck, 'once', 'latest_net_G.pth'), weights_only=True)
    for label in ('G', 'G_ema'):
        state = torch.load(os.path.join(ck, 'tuned', f'latest_net_{label}.pth'), weights_only=True)
        assert all(torch.equal(source[k], state[k]) for k in source), label
    for name, source_run, expected in (('once', os.path.join(ck, 'once'), "this run's own folder"),
                                       ('other', os.path.join(ck, 'missing'),
                                        '--init_from ' + os.path.join(ck, 'missing') + ': no such')):
        refused = run_script('train.py', *TINY_OPTIONS, '--name', name, '--checkpoints_dir', ck, '--overwrite',
                             '--init_from', source_run)
        assert refused.returncode == 1 and expected in refused.stderr, refused.stderr[-2000:]
    assert not os.path.exists(os.path.join(ck, 'other'))
    spec = json.load(open(os.path.join(ck, 'once', 'networks.json')))
    assert spec['method'] == 'sdm' and sorted(spec['networks']) == ['G'] and 'use_checkpoint' not in \
        spec['networks']['G']['arguments']
    assert 'mse' in open(os.path.join(ck, 'once', 'loss_log.txt')).read()
    maps = tmp_path / 'maps'
    maps.mkdir()
    Image.fromarray((np.indices((64, 64)).sum(0) // 16 % 12).astype(np.uint8)).save(maps / 'a.png')
    sampling = ['--sampler', 'ddim', '--steps', '4']
    made = run_script('scripts/synthesize.py', '--model', os.path.join(ck, 'once'), '--use_ema', '--labels',
                      str(maps), '--seeds', '3-4', '--out', str(tmp_path / 'out'), '--gpu_ids', '-1', *sampling)
    assert made.returncode == 0, made.stderr[-2000:]
    images = [np.array(Image.open(tmp_path / 'out' / f'a_seed{s}.png')) for s in (3, 4)]
    assert images[0].shape == (64, 64, 3) and not np.array_equal(*images)
    tested = run_script('test.py', '--model', os.path.join(ck, 'once'), '--results_dir', str(tmp_path / 'results'),
                        '--how_many', '2', '--gpu_ids', '-1', '--dataset_mode', 'synthetic', *sampling)
    assert tested.returncode == 0, tested.stderr[-2000:]
    manifest = json.load(open(tmp_path / 'results' / 'once' / 'test_latest' / 'manifest.json'))
    assert (manifest['options']['sampler'], manifest['options']['steps']) == ('ddim', 4)
    converted = run_script('scripts/convert_checkpoint.py', '--name', 'once', '--checkpoints_dir', ck, '--use_ema',
                           '--out', str(tmp_path / 'folder'))
    assert converted.returncode == 0, converted.stderr[-2000:]
    again = run_script('scripts/synthesize.py', '--model', str(tmp_path / 'folder'), '--labels', str(maps), '--seeds',
                       '3-4', '--out', str(tmp_path / 'again'), '--gpu_ids', '-1', *sampling)
    assert again.returncode == 0, again.stderr[-2000:]
    for seed in (3, 4):  # the model folder gives the run's images, byte for byte
        assert (tmp_path / 'again' / f'a_seed{seed}.png').read_bytes() == \
            (tmp_path / 'out' / f'a_seed{seed}.png').read_bytes()
    card = (tmp_path / 'folder' / 'README.md').read_text()
    assert 'Semantic Image Synthesis via Diffusion Models' in card


def test_export_refuses_a_sampler_in_one_line(tmp_path):
    from models.synthesizer import Synthesizer
    net = tiny_unet()
    spec = ModelSpec.describe(ModelInputs('synthetic', 12, False, False), method='sdm', G=net)
    Synthesizer(net, None, spec).save_pretrained(str(tmp_path / 'folder'))
    result = run_script('scripts/export.py', '--model', str(tmp_path / 'folder'), '--out', str(tmp_path / 'onnx'),
                        '--gpu_ids', '-1')
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and 'sampler loop, which is not exported' in lines[0]
    assert not (tmp_path / 'onnx').exists()


def test_sizes_out_of_range_are_one_line(tmp_path):
    for option, value in (('--num_channels', '100000'), ('--num_channels', '48'), ('--dropout', '1')):
        result = run_script('train.py', *TINY_OPTIONS, option, value, '--name', 'bad', '--checkpoints_dir',
                            str(tmp_path))
        lines = result.stderr.strip().splitlines()
        assert result.returncode in (1, 2) and len(lines) == 1 and option.strip('-') in lines[0], (option, lines)
        assert not (tmp_path / 'bad').exists()


@pytest.mark.slow(seconds=15)
def test_an_sdm_model_is_scored_through_evaluate_all_with_its_sampler(tmp_path, capsys, monkeypatch,
                                                                      inception_weights):
    from helpers import save_trained_looking_model
    from segmenter_files import write_published_files
    from test_evaluate_protocol import run_evaluate, write_case
    root, _ = write_case(tmp_path, 'coco')
    save_trained_looking_model(str(tmp_path / 'ck'), 'coco_sdm', ['--dataset_mode', 'coco', '--crop_size', '64',
                                                                 *TINY_OPTIONS[:2], *TINY_OPTIONS[4:12]])
    weights = write_published_files('deeplabv2_cocostuff', str(tmp_path / 'weights'), 7)
    code, out, err = run_evaluate(capsys, monkeypatch, 'all', '--dataset_mode', 'coco', '--dataroot', root,
                                  '--segmenter_weights', weights, '--inception_weights', inception_weights,
                                  '--gpu_ids', '-1', '--stats_cache', '', '--dims', '64', '--model',
                                  str(tmp_path / 'ck' / 'coco_sdm'), '--results_dir', str(tmp_path / 'results'),
                                  '--sampler', 'ddim', '--steps', '2')
    assert code == 0, err
    results = tmp_path / 'results' / 'coco_sdm' / 'test_latest'
    manifest = json.load(open(results / 'manifest.json'))
    assert (manifest['options']['sampler'], manifest['options']['steps']) == ('ddim', 2)
    assert json.load(open(results / 'metrics.json'))['protocol']['image_count'] == 3
