"""The web demo (scripts/demo.py): its API through gradio_client, snapping painted colours, bad uploads, and a
real browser painting a stroke. Needs requirements-demo.txt (skipped without it)."""
import importlib.util
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from helpers import ROOT, load_script, save_trained_looking_model

pytestmark = pytest.mark.slow  # a served page, gradio_client, subprocesses
if importlib.util.find_spec('gradio') is None:  # looked for, not imported: the demo imports it in its own process
    pytest.skip('needs gradio (pip install -r requirements-demo.txt)', allow_module_level=True)
gradio_client = pytest.importorskip('gradio_client')

from data.label_maps import render_label_map  # noqa: E402
from models.synthesizer import Synthesizer  # noqa: E402



DEMO = load_script('demo')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


@pytest.fixture(scope='module')
def served(tmp_path_factory):
    """A model with a style encoder, its Demo, and the page served on a free local port."""
    checkpoints = str(tmp_path_factory.mktemp('checkpoints'))
    save_trained_looking_model(checkpoints, 'vae', ['--dataset_mode', 'synthetic', '--use_vae'])
    demo = DEMO.Demo(Synthesizer.from_pretrained(os.path.join(checkpoints, 'vae')), '--name vae')
    app, theme = DEMO.build_app(demo)
    port = free_port()
    app.launch(server_name='127.0.0.1', server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False,
               theme=theme, css=DEMO.PAGE_CSS)
    yield checkpoints, demo, f'http://127.0.0.1:{port}/'
    app.close()


def label_map(tmp_path, name='scene.png') -> str:
    grid = np.random.default_rng(0).integers(0, 12, (4, 4)).astype(np.uint8)
    path = str(tmp_path / name)
    Image.fromarray(np.kron(grid, np.ones((16, 16), np.uint8))).save(path)
    return path


def test_api_equals_synthesize_py(served, tmp_path, monkeypatch):
    checkpoints, _, url = served
    label = label_map(tmp_path)
    client = gradio_client.Client(url, verbose=False)
    result = client.predict(gradio_client.handle_file(label), 5, None, api_name='/synthesize')
    from util.errors import run_cli
    monkeypatch.setattr(sys, 'argv',
                        ['synthesize.py', '--name', 'vae', '--checkpoints_dir', checkpoints, '--gpu_ids', '-1',
                                      '--labels', label, '--seeds', '5', '--out', str(tmp_path / 'out')])
    run_cli(load_script('synthesize').main)
    expected = np.array(Image.open(tmp_path / 'out' / 'scene_seed5.png'))
    assert np.array_equal(np.array(Image.open(result)), expected)
    other = client.predict(gradio_client.handle_file(label), 6, None, api_name='/synthesize')
    assert not np.array_equal(np.array(Image.open(other)), expected)


def test_blended_edges_snap_to_the_classes(served, tmp_path):
    """Anti-aliased strokes: pixels between two class colours give the image of the clean map."""
    _, demo, _ = served
    clean = np.array(render_label_map(
        __import__('torch').from_numpy(np.kron(np.array([[1, 4], [7, 9]]), np.ones((32, 32), np.int64)))[None],
        demo.labels).convert('RGB')).astype(np.float64)
    blended = clean.copy()
    # Soft edges, as a brush draws them: each pixel mostly its own class's colour, partly its neighbour's.
    blended[:, 31] = 0.75 * clean[:, 31] + 0.25 * clean[:, 32]
    blended[:, 32] = 0.3 * clean[:, 31] + 0.7 * clean[:, 32]
    blended[31, :] = 0.8 * clean[31, :] + 0.2 * clean[32, :]
    blended = Image.fromarray(np.round(blended).astype(np.uint8))
    assert len(np.unique(np.array(blended).reshape(-1, 3), axis=0)) > 4
    images = [np.array(demo.synthesize_painting(painting, 3, None))
              for painting in (Image.fromarray(clean.astype(np.uint8)), blended)]
    path = str(tmp_path / 'clean.png')
    Image.fromarray(clean.astype(np.uint8)).save(path)
    assert np.array_equal(images[0], images[1])
    assert np.array_equal(images[0], np.array(demo.synthesize_file(path, 3, None)))


def test_scenes_are_built_from_the_classes_each_dataset_names():
    from data.classes import label_set
    for dataset, label_nc, dontcare, expected in (('coco', 182, True, ['beach', 'landscape', 'street', 'field']),
                                                  ('ade20k', 150, True, ['beach', 'landscape', 'street', 'field']),
                                                  ('cityscapes', 35, False, ['street', 'field']),
                                                  ('synthetic', 12, False, ['street', 'field'])):
        labels = label_set(dataset, label_nc, dontcare)
        scenes = dict(DEMO.scene_layouts(labels, (64, 32)))
        assert list(scenes) == expected, dataset
        assert labels.names[DEMO.background_class(labels)] in ('sky', 'sky-other')
        street = scenes['street']
        assert street.shape == (32, 64)
        present = {labels.names[c] for c in np.unique(street)}
        assert len(present) == 4 and present & {'sky', 'sky-other'} and present & {'car', 'cyan object'}, dataset
    # a model without such classes (custom data) still gets a layout
    assert [title for title, _ in DEMO.scene_layouts(label_set('custom', 13, False), (8, 8))] == ['two bands']


def test_the_palette_lists_the_classes_on_the_canvas_most_pixels_first(served):
    _, demo, _ = served
    painting = demo.render(np.array([[0, 0, 0, 9]] * 4))
    html = demo.palette_html(painting)
    assert html.index('0 sky') < html.index('9 cyan object') and html.count('class="swatch"') == 2
    assert demo.blank(DEMO.class_choices(demo.labels)[DEMO.background_class(demo.labels)]).getpixel((0, 0)) == \
        tuple(int(c) for c in demo.labels.colors[0])


def test_bad_upload_is_reported_and_the_server_keeps_answering(served, tmp_path):
    _, _, url = served
    client = gradio_client.Client(url, verbose=False)
    junk = tmp_path / 'junk.png'
    junk.write_bytes(b'not an image')
    off_palette = tmp_path / 'off.png'
    Image.new('RGB', (64, 64), (3, 200, 7)).save(off_palette)
    too_high = tmp_path / 'ids.png'
    Image.fromarray(np.full((64, 64), 40, np.uint8)).save(too_high)
    for path, message in ((junk, 'not a readable image'), (off_palette, 'not in the model'), (too_high, 'class id 40')):
        with pytest.raises(Exception) as info:
            client.predict(gradio_client.handle_file(str(path)), 0, None, api_name='/synthesize')
        assert message in str(info.value), (path, str(info.value))
    # a style photo of another size is resized; the server still answers
    photo = tmp_path / 'photo.jpg'
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (90, 40, 3), np.uint8)).save(photo)
    result = client.predict(gradio_client.handle_file(label_map(tmp_path)), 0, gradio_client.handle_file(str(photo)),
                            api_name='/synthesize')
    assert Image.open(result).size == (64, 64)


def test_two_requests_at_once_are_both_answered(served, tmp_path):
    _, _, url = served
    client = gradio_client.Client(url, verbose=False)
    label = gradio_client.handle_file(label_map(tmp_path))
    jobs = [client.submit(label, seed, None, api_name='/synthesize') for seed in (1, 2)]
    results = [np.array(Image.open(job.result(timeout=120))) for job in jobs]
    assert results[0].shape == results[1].shape == (64, 64, 3) and not np.array_equal(*results)


def test_port_in_use_is_one_line(served):
    checkpoints, _, url = served
    port = int(url.rstrip('/').rsplit(':', 1)[1])
    result = subprocess.run([sys.executable, 'scripts/demo.py', '--name', 'vae', '--checkpoints_dir', checkpoints,
                             '--gpu_ids', '-1', '--port', str(port)], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and f'--port {port}' in lines[0] and 'in use' in lines[0]


def test_without_gradio_the_demo_says_how_to_install_it():
    code = ("import runpy, sys; sys.modules['gradio'] = None; sys.argv = ['demo.py', '--name', 'x']; "
            "runpy.run_path('scripts/demo.py', run_name='__main__')")
    result = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip() == \
        'error: the demo needs gradio: pip install -e ".[demo]" (or -r requirements-demo.txt)'


CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')


@pytest.mark.skipif(CHROMIUM is None, reason='needs Chromium (apt-get install chromium)')
def test_a_stroke_painted_in_a_real_browser_is_synthesized(served, tmp_path):
    playwright = pytest.importorskip('playwright.sync_api')
    _, demo, url = served
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=['--no-sandbox', '--disable-gpu',
                                                                    '--disable-background-networking'])
        try:
            page = browser.new_page(viewport={'width': 1280, 'height': 900})
            page.goto(url, wait_until='networkidle')
            # The legend follows every change of the canvas: a scene, the blank canvas, a fill.
            legends = {}
            for button in ('Scene: field', 'Blank canvas (sky)', 'Scene: street'):
                page.get_by_role('button', name=button).click()
                page.wait_for_timeout(1500)
                legends[button] = page.inner_text('#palette')
            choice = page.locator('#class_choice input')
            choice.click()
            choice.press('Control+a')
            choice.press('Backspace')
            choice.press_sequentially('9')
            page.locator('[role=option]', has_text='9 cyan object').first.click()
            page.wait_for_timeout(800)
            box = page.locator('#canvas canvas').last.bounding_box()
            x, y = box['x'] + box['width'] / 2 - 100, box['y'] + box['height'] / 2
            page.mouse.move(x, y)
            page.mouse.down()
            for step in range(1, 21):
                page.mouse.move(x + 10 * step, y + 2 * step)
            page.mouse.up()
            page.wait_for_timeout(500)
            page.locator('#synthesize').click()
            image = page.locator('#output img')
            image.wait_for(timeout=60000)
            source = image.get_attribute('src')
            assert source and '/file=' in source
            page.screenshot(path=str(tmp_path / 'page.png'))
            page_text = page.inner_text('body')
        finally:
            browser.close()
    # the painted stroke reached the server: the page's result is not the unpainted first scene's
    unpainted = np.array(demo.synthesize_painting(demo.scenes[0][1], 0, None))
    downloaded = np.array(Image.open(__import__('urllib.request').request.urlopen(
        source if source.startswith('http') else url.rstrip('/') + source)))
    assert downloaded.shape == unpainted.shape and not np.array_equal(downloaded, unpainted)
    # the page starts on that scene, with the palette of its classes beside the canvas
    assert 'On the canvas:' in page_text and 'sky' in page_text and 'Scene: street' in page_text
    assert 'grass' in legends['Scene: field'] and 'asphalt' not in legends['Scene: field']
    assert legends['Blank canvas (sky)'].split(':', 1)[1].split() == ['0', 'sky']
    assert 'asphalt' in legends['Scene: street']


def test_a_diffusion_model_gets_a_steps_control_and_the_solver_by_default(tmp_path):
    """An SDM model on the page: a steps slider, the few-step solver unless --sampler is given, and a note whose
    synthesize.py command (with the sampler and steps) gives the page's image."""
    import torch

    from models.methods.sdm.networks import SDMUNet
    from models.spec import ModelInputs, ModelSpec
    torch.manual_seed(0)
    net = SDMUNet(13, crop_size=64, num_channels=32, num_res_blocks=1, attention_resolutions='16,8',
                  num_head_channels=16)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    spec = ModelSpec.describe(ModelInputs('synthetic', 12, False, False), method='sdm', G=net)
    Synthesizer(net.eval(), None, spec).save_pretrained(str(tmp_path / 'sdm'))
    synthesizer = DEMO.page_synthesizer(DEMO.build_parser().parse_args(['--model', str(tmp_path / 'sdm'),
                                                                         '--gpu_ids', '-1']))
    assert synthesizer.run.settings.sampler == 'dpm++'
    given = DEMO.page_synthesizer(DEMO.build_parser().parse_args(['--model', str(tmp_path / 'sdm'), '--gpu_ids', '-1',
                                                                  '--sampler', 'ddim']))
    assert given.run.settings.sampler == 'ddim'
    demo = DEMO.Demo(synthesizer, f'--model {tmp_path / "sdm"}')
    assert demo.sampling_arguments(3) == ' --sampler dpm++ --steps 3'
    app, _ = DEMO.build_app(demo)
    sliders = [block for block in app.blocks.values() if type(block).__name__ == 'Slider']
    assert len(sliders) == 1 and sliders[0].visible and sliders[0].value == 20
    painting = demo.scenes[0][1]
    image = np.array(demo.synthesize_painting(painting, 5, None, None, 3))
    painting.save(tmp_path / 'map.png')
    values = np.array(Image.open(tmp_path / 'map.png').convert('RGB'))
    assert image.shape == (64, 64, 3) and values.shape == (64, 64, 3)
    # (one thread, as the test's own process: oneDNN's channels-last convolutions round by their thread count)
    made = subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'synthesize.py'), '--model',
                           str(tmp_path / 'sdm'), '--labels', str(tmp_path / 'map.png'), '--seeds', '5', '--out',
                           str(tmp_path / 'out'), '--gpu_ids', '-1', '--sampler', 'dpm++', '--steps', '3'],
                          capture_output=True, text=True, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert made.returncode == 0, made.stderr[-2000:]
    assert np.array_equal(np.array(Image.open(tmp_path / 'out' / 'map_seed5.png')), image)


def test_beyond_the_queue_requests_are_told_busy_and_the_server_keeps_answering(served, tmp_path):
    """A queue of one: while one request is synthesized and one waits, the others are answered at once with gradio's
    "Queue is full" (HTTP 503 to plain HTTP), never queued without bound; afterwards the page answers as before."""
    import time
    _, demo, _ = served

    class SlowDemo(DEMO.Demo):
        def synthesize_file(self, *args):
            time.sleep(1.5)  # a synthesis that takes a while
            return super().synthesize_file(*args)

    slow = SlowDemo(demo.synthesizer, '--name vae')
    app, theme = DEMO.build_app(slow, max_queue=1)
    port = free_port()
    app.launch(server_name='127.0.0.1', server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False,
               theme=theme, css=DEMO.PAGE_CSS)
    try:
        client = gradio_client.Client(f'http://127.0.0.1:{port}/', verbose=False)
        label = gradio_client.handle_file(label_map(tmp_path))
        jobs = [client.submit(label, seed, None, api_name='/synthesize') for seed in range(5)]
        answers = []
        for job in jobs:
            try:
                answers.append(np.array(Image.open(job.result(timeout=120))).shape)
            except Exception as exc:
                answers.append(str(exc))
        busy = [a for a in answers if isinstance(a, str)]
        assert busy and all('Queue is full' in a for a in busy), answers
        assert answers.count((64, 64, 3)) >= 2, answers  # the one running and the one waiting
        result = client.predict(label, 7, None, api_name='/synthesize')
        assert np.array(Image.open(result)).shape == (64, 64, 3)
    finally:
        app.close()
