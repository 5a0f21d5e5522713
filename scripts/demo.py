"""Paint a scene: a local web page that turns a painted label map into an image (gradio).

python scripts/demo.py --name NAME [--which_epoch latest] [--port 7860] [--host 127.0.0.1]
python scripts/demo.py --preset coco --name coco_best --which_epoch 100
python scripts/demo.py --model SOURCE       # a converted model folder, a run folder or a Hub id
python scripts/demo.py --model SOURCE --sampler ddim --steps 50   # a diffusion model (SDM): its sampler

Needs `pip install -r requirements-demo.txt`. The page's Synthesize and its API endpoint `synthesize` (for
gradio_client) use the same synthesis as scripts/synthesize.py, so a seed shown here reproduces with
`synthesize.py --seeds N`. A diffusion model samples with DPM-Solver++ (20 steps) unless --sampler is given, and the
page has a steps slider and shows the sampler's progress. Nothing is fetched from the network: analytics are off
and the page uses system fonts.
"""
import argparse
import html
import importlib.util
import math
import os
import random
import socket
from typing import List, Optional, Tuple

os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')

import numpy as np
import torch
from PIL import Image


from data.classes import LabelSet
from data.label_maps import (MAX_INPUT_PIXELS, file_values_to_channels, read_label_map, read_photo,
                             render_label_map, snap_to_palette)
from models.synthesizer import Synthesizer
from options.parser import OptionParser
from options.shared_arguments import DEFAULT_CHECKPOINTS_DIR
from options.synthesis_options import (SEED_LIMIT, add_input_limit_argument, add_model_arguments,
                                       synthesizer_from_arguments)
from util import util
from util.util import pixel_limit_problem
from util.arguments import int_in
from util.errors import UserError, run_cli

# Scene layouts built from named classes. A role names the classes that can play it, the first the model has
# (COCO-Stuff, ADE20K, Cityscapes and the synthetic set name them differently); a scene is offered when the model
# has a class for every role. Shapes are in coordinates of the canvas, 0..1 from the top left, painted in order.
SKY = ('sky-other', 'sky')
SCENES = [
    ('beach', [(SKY, lambda y, x: y >= 0), (('sea', 'water'), lambda y, x: y > 0.45),
               (('sand',), lambda y, x: y > 0.66 + 0.04 * np.sin(x * 7))]),
    ('landscape',
     [(SKY, lambda y, x: y >= 0), (('mountain', 'hill'), lambda y, x: y > 0.62 - 0.3 * (1 - abs(2 * x - 0.9))),
                   (('grass', 'terrain', 'field'), lambda y, x: y > 0.66),
                   (('tree', 'vegetation'), lambda y, x: ((y - 0.62) / 0.16) ** 2 + ((x - 0.8) / 0.1) ** 2 < 1)]),
    ('street',
     [(SKY, lambda y, x: y >= 0),
      (('building-other', 'building', 'house', 'brown object'), lambda y, x: (abs(x - 0.5) > 0.22) & (y > 0.12)),
                (('road', 'asphalt', 'pavement'), lambda y, x: y > 0.68),
                (('car', 'cyan object'), lambda y, x: (y > 0.6) & (y < 0.8) & (x > 0.36) & (x < 0.64))]),
    ('field', [(SKY, lambda y, x: y >= 0), (('grass', 'terrain', 'field'), lambda y, x: y > 0.5 + 0.05 * np.sin(x * 9)),
               (('sand', 'dirt', 'road', 'asphalt'), lambda y,
                x: (y > 0.55) & (abs(x - 0.5) < 0.05 + 0.4 * (y - 0.55)))]),
]

# A diffusion model's sampler on the page unless --sampler says otherwise: DPM-Solver++ (20 steps, seconds on a CPU
# at small sizes) rather than the public 1000-step DDPM.
DEMO_SAMPLER = 'dpm++'
# Requests waiting beyond the one being synthesized: each holds its upload (up to --max_file_size).
DEFAULT_MAX_QUEUE = 16
# Uploads (label maps, style photos) are deleted from gradio's cache every 10 minutes once an hour old.
UPLOAD_CACHE_LIFETIME = (600, 3600)


def build_parser() -> OptionParser:
    parser = OptionParser(description=__doc__)
    parser.add_argument('-h', '--help', action='help', help='show this help message and exit')
    add_model_arguments(parser)
    add_input_limit_argument(parser)
    parser.add_argument('--max_file_size', default='20mb', help="the largest upload gradio accepts (e.g. 5mb); "
                        'a small file can still hold many pixels, which --max_input_pixels limits')
    parser.add_argument('--host', default='127.0.0.1', help='address to serve on (0.0.0.0: every interface)')
    parser.add_argument('--port', type=int_in(1, 65535), default=7860)
    parser.add_argument('--max_queue', type=int_in(1, 10_000), default=DEFAULT_MAX_QUEUE,
                        help='requests that may wait for their turn (one synthesis runs at a time); beyond them a '
                        'request is answered at once with "Queue is full! Please try again." (HTTP 503), so that '
                        'memory stays bounded whatever the number of clients')
    return parser


def hex_color(color) -> str:
    return '#' + ''.join(f'{int(c):02x}' for c in color)


def class_choices(labels: LabelSet) -> List[str]:
    """'<id> <name>' per class, as the dropdown shows them (ids as in label map files)."""
    return [f'{labels.file_value_of_channel(c)} {name}' for c, name in enumerate(labels.names)]


def scene_layouts(labels: LabelSet, size: Tuple[int, int]) -> List[Tuple[str, np.ndarray]]:
    """(title, channel map) of every scene the model has classes for; two bands of its first classes when none."""
    width, height = size
    ys, xs = np.mgrid[0:height, 0:width]
    ys, xs = (ys + 0.5) / height, (xs + 0.5) / width
    layouts = []
    for title, layers in SCENES:
        classes = [first_class(labels, role) for role, _ in layers]
        if None in classes:
            continue
        channels = np.zeros((height, width), dtype=np.int64)
        for channel, (_, shape) in zip(classes, layers):
            channels[shape(ys, xs)] = channel
        layouts.append((title, channels))
    if not layouts:
        layouts.append(('two bands', np.where(ys < 0.45, 0, min(1, len(labels) - 1))))
    return layouts


def first_class(labels: LabelSet, names: Tuple[str, ...]) -> Optional[int]:
    """The channel of the first of `names` that the model has, or None."""
    return next((labels.names.index(name) for name in names if name in labels.names), None)


def background_class(labels: LabelSet) -> int:
    """The class a blank canvas is filled with: sky when the model has it, else the first class."""
    sky = first_class(labels, SKY)
    return 0 if sky is None else sky


class Demo:
    """What the page does, apart from the page: also what the tests call."""

    def __init__(self, synthesizer: Synthesizer, model_arguments: str = '', max_input_pixels: int = MAX_INPUT_PIXELS):
        self.synthesizer = synthesizer
        self.max_input_pixels = max_input_pixels  # uploads above it are refused before they are decoded
        self.labels = synthesizer.labels
        self.model_arguments = model_arguments  # how synthesize.py names the model, e.g. '--name x --which_epoch 5'
        self.scenes = [(title, self.render(channels)) for title,
                       channels in scene_layouts(self.labels, synthesizer.size)]

    def render(self, channels: np.ndarray) -> Image.Image:
        return render_label_map(torch.from_numpy(channels)[None], self.labels).convert('RGB')

    def palette_html(self, painting: Optional[Image.Image]) -> str:
        """The classes on the canvas, each a swatch of its colour and its name, most pixels first."""
        if painting is None:
            return ''
        values = snap_to_palette(np.array(painting.convert('RGB')), self.labels)
        found, counts = np.unique(values, return_counts=True)
        rows = []
        for value, _ in sorted(zip(found.tolist(), counts.tolist()), key=lambda item: -item[1]):
            channel = self.labels.channel_of_file_value(value)
            if channel is None:
                continue
            rows.append(f'<span class="swatch"><span style="background:{hex_color(self.labels.colors[channel])}">'
                        f'</span>{value} {html.escape(self.labels.names[channel])}</span>')
        return '<div id="palette">On the canvas: ' + ' '.join(rows) + '</div>'

    def blank(self, choice: str) -> Image.Image:
        """A canvas at the model's size filled with one class."""
        color = tuple(int(c) for c in self.labels.colors[self.channel(choice)])
        return Image.new('RGB', self.synthesizer.size, color)

    def channel(self, choice: str) -> int:
        return class_choices(self.labels).index(choice)

    @staticmethod
    def seed_of(seed: Optional[float]) -> int:
        """The seed a page or API request gives (gradio hands over a number, or None for empty), as synthesize.py's
        --seeds takes them: a whole number from 0 below SEED_LIMIT."""
        if seed is None:
            return 0
        if not (isinstance(seed, (int, float)) and math.isfinite(seed) and seed == int(seed)
                and 0 <= int(seed) < SEED_LIMIT):
            raise UserError(f'seed {seed}: give a whole number from 0 to {SEED_LIMIT - 1}')
        return int(seed)

    def style(self, seed: Optional[float], style_photo: Optional[str]) -> Optional[torch.Tensor]:
        """The code of a seed or a photo; for a model that takes none, a seed other than 0 or a photo is refused,
        as synthesize.py refuses --seeds and --style_image (it would silently give seed 0's image)."""
        if not self.synthesizer.takes_code:
            if style_photo or self.seed_of(seed) != 0:
                given = 'a style photo' if style_photo else f'seed {self.seed_of(seed)}'
                raise UserError(f'{given}: this model makes one image per label map and takes no style; use seed 0 '
                                'and no photo')
            return None
        if style_photo:
            photo = read_photo(style_photo, self.synthesizer.size, self.synthesizer.output_nc, self.max_input_pixels)
            return self.synthesizer.style_from_photo(photo[None])
        return self.synthesizer.styles_from_seeds([self.seed_of(seed)])

    def synthesize_channels(self, channels: torch.Tensor, seed: Optional[float], style_photo: Optional[str],
                            restyle: Optional[Tuple[int, int]] = None, steps: Optional[float] = None) -> Image.Image:
        """The image of a label map; `restyle` (channel, seed): that class takes the seed's noise, the rest the
        seed's of `seed` (models with a noise code, as synthesize.py --restyle); `steps`: a diffusion model's
        sampling steps (its sampler's own without)."""
        synthesizer = self.synthesizer
        if steps and synthesizer.uses_sampler:
            synthesizer = synthesizer.with_sampling(steps=int(steps))
        z = self.style(seed, style_photo)
        if restyle is not None:
            channel, restyle_seed = restyle
            z = synthesizer.region_codes(channels, z, synthesizer.styles_from_seeds([restyle_seed]), [channel])
        image = synthesizer.generate(synthesizer.semantics(channels[None]), z)[0]
        return Image.fromarray(util.tensor2im(image))

    def synthesize_file(self, label_path: str, seed: Optional[float], style_photo: Optional[str]) -> Image.Image:
        """The API endpoint: a label-map file read exactly as scripts/synthesize.py reads it."""
        if not label_path:
            raise UserError('give a label map')
        channels = read_label_map(label_path, self.labels, self.synthesizer.size, self.max_input_pixels)
        return self.synthesize_channels(channels, seed, style_photo)

    def synthesize_painting(self, painting: Image.Image, seed: Optional[float], style_photo: Optional[str],
                            restyle: Optional[Tuple[int, int]] = None, steps: Optional[float] = None) -> Image.Image:
        """A painted canvas: every pixel snapped to the nearest class colour (brush strokes come back
        anti-aliased, with colours between two classes), then synthesized."""
        too_large = pixel_limit_problem('the canvas', painting.size, self.max_input_pixels)
        if too_large:
            raise UserError(too_large)
        rgb = np.array(painting.convert('RGB'))
        values = snap_to_palette(rgb, self.labels)
        channels = file_values_to_channels(values, self.labels, self.synthesizer.size, 'the canvas')
        return self.synthesize_channels(channels, seed, style_photo, restyle, steps)

    def sampling_arguments(self, steps: Optional[float]) -> str:
        """synthesize.py's options for the sampler a page's image used ('' for a model without one)."""
        if not self.synthesizer.uses_sampler:
            return ''
        settings = self.synthesizer.run.settings
        return f' --sampler {settings.sampler} --steps {int(steps) if steps else settings.step_count}'

    def load_label_map(self, label_path: str) -> Image.Image:
        """An uploaded label map (ids or palette colours), shown in the palette at the model's size."""
        channels = read_label_map(label_path, self.labels, self.synthesizer.size, self.max_input_pixels)
        return render_label_map(channels, self.labels).convert('RGB')


def build_app(demo: Demo, max_queue: int = DEFAULT_MAX_QUEUE):
    import gradio as gr
    labels, synthesizer = demo.labels, demo.synthesizer
    choices = class_choices(labels)
    width, height = synthesizer.size
    model = demo.model_arguments

    def reported(function):
        """A bad upload becomes a message on the page; the server keeps running."""
        def wrapped(*args):
            try:
                return function(*args)
            except UserError as exc:
                raise gr.Error(str(exc)) from None
        return wrapped

    def brush_of(choice: str):
        color = hex_color(labels.colors[demo.channel(choice)])
        return gr.Brush(colors=[color], default_color=color, color_mode='fixed', default_size=max(2, width // 12))

    def painting_of(editor) -> Image.Image:
        if editor is None or editor.get('composite') is None:
            raise gr.Error('paint a label map first')
        return editor['composite']

    # A diffusion model's sampler shows its progress (its tqdm bar of steps) on the page.
    def synthesize(editor, seed, style_photo, steps, progress=gr.Progress(track_tqdm=True)):
        image = reported(demo.synthesize_painting)(painting_of(editor), seed, style_photo, None, steps)
        seed = demo.seed_of(seed)  # a valid one: the synthesis took it
        note = ('' if not synthesizer.takes_code or style_photo else
                f'Seed {seed}: reproduce with `python scripts/synthesize.py {model} --labels MAP.png '
                f'--seeds {seed}{demo.sampling_arguments(steps)}` on this label map (download it from the canvas).')
        return image, note

    def restyle_class(editor, seed, choice, steps, progress=gr.Progress(track_tqdm=True)):
        """A new noise code for the chosen class only; the rest keeps the seed's."""
        channel, restyle_seed = demo.channel(choice), random.randrange(2 ** 31)
        image = reported(demo.synthesize_painting)(painting_of(editor), seed, None, (channel, restyle_seed), steps)
        name, seed = labels.names[channel], demo.seed_of(seed)
        note = (f'{name} restyled with seed {restyle_seed}, the rest seed {seed}: reproduce with `python '
                f'scripts/synthesize.py {model} --labels MAP.png --seeds {restyle_seed} --base_seed {seed} '
                f'--restyle "{name}"{demo.sampling_arguments(steps)}`.')
        return image, note

    font = ['ui-sans-serif', 'system-ui', 'sans-serif']  # system fonts: the default theme would fetch web fonts
    theme = gr.themes.Default(font=font, font_mono=['ui-monospace', 'monospace'])
    with gr.Blocks(title='CC-FPSE: paint a scene', analytics_enabled=False, delete_cache=UPLOAD_CACHE_LIFETIME) as app:
        gr.Markdown(f'## Paint a scene\nModel `{model}` ({len(labels)} classes, {width}×{height}). Start from a '
                    'scene, pick a class, paint, press **Synthesize**.')
        background_channel = background_class(labels)
        background = choices[background_channel]
        first_scene = demo.scenes[0][1]
        with gr.Row():
            with gr.Column():
                with gr.Row():
                    scene_buttons = [(gr.Button(f'Scene: {title}', size='sm'), image) for title, image in demo.scenes]
                choice = gr.Dropdown(choices, value=background, label='class (type to search)', filterable=True,
                                     elem_id='class_choice')
                editor = gr.ImageEditor(value={'background': first_scene, 'layers': [], 'composite': first_scene},
                                        type='pil', image_mode='RGB', canvas_size=(width, height), fixed_canvas=True,
                                        brush=brush_of(background), layers=False, transforms=(), format='png',
                                        label='label map', elem_id='canvas')
                palette = gr.HTML(demo.palette_html(first_scene), elem_id='palette_box')
                with gr.Row():
                    fill = gr.Button('Fill with the class')
                    blank = gr.Button(f'Blank canvas ({labels.names[background_channel]})')
                    upload = gr.UploadButton('Open a label map', file_types=['image'])
            with gr.Column():
                with gr.Row(visible=synthesizer.takes_code):
                    seed = gr.Number(value=0, precision=0, label='seed', minimum=0)
                    new_seed = gr.Button('New random style')
                restyle = gr.Button('New style for this class', visible=synthesizer.spec.noise, elem_id='restyle')
                sampling = synthesizer.run.settings if synthesizer.uses_sampler else None
                # 0: the sampler's own steps (and what a model without a sampler passes)
                steps = gr.Slider(0, 1000, step=1, value=sampling.step_count if sampling else 0,
                                  label=f'{sampling.sampler} steps (fewer: faster, coarser)' if sampling else 'steps',
                                  visible=sampling is not None)
                style_photo = gr.Image(type='filepath', label='style photo (instead of the seed)',
                                       visible=synthesizer.encodes_photos)
                run = gr.Button('Synthesize', variant='primary', elem_id='synthesize')
                output = gr.Image(type='pil', format='png', label='synthesized image', elem_id='output',
                                  buttons=['download'],
                                  height=360)
                note = gr.Markdown()

        page_only = {'api_visibility': 'private'}  # page helpers, not API endpoints
        def canvas(image: Image.Image):
            """A new canvas and its legend together: the editor's change event is not sent for a value set from the
            server, so the legend would keep the previous canvas's classes."""
            return image, demo.palette_html(image)

        choice.change(lambda c: gr.ImageEditor(brush=brush_of(c)), choice, editor, **page_only)
        fill.click(lambda c: canvas(demo.blank(c)), choice, [editor, palette], **page_only)
        blank.click(lambda: canvas(demo.blank(background)), None, [editor, palette], **page_only)
        upload.upload(lambda f: canvas(reported(demo.load_label_map)(f)), upload, [editor, palette], **page_only)
        for button, image in scene_buttons:
            button.click(lambda image=image: canvas(image), None, [editor, palette], **page_only)
        # Painting and erasing change the canvas in the page: the editor reports those.
        editor.change(lambda e: demo.palette_html(None if e is None else e.get('composite')), editor, palette,
                      **page_only)
        new_seed.click(lambda: random.randrange(2 ** 31), None, seed, **page_only)
        run.click(synthesize, [editor, seed, style_photo, steps], [output, note], api_name='paint')
        restyle.click(restyle_class, [editor, seed, choice, steps], [output, note], **page_only)

        # The API for scripts (gradio_client): a label-map file, a seed, a style photo or None -> the image. Files,
        # not images, so that an unreadable upload reaches our checks and gets their message.
        api_inputs = [gr.File(type='filepath', visible=False), gr.Number(value=0, precision=0, visible=False),
                      gr.File(type='filepath', visible=False)]
        api_output = gr.Image(type='pil', format='png', visible=False)
        gr.Button(visible=False).click(lambda path, s, photo: reported(demo.synthesize_file)(path, s, photo),
                                       api_inputs, api_output, api_name='synthesize')
    app.queue(default_concurrency_limit=1, max_size=max_queue)  # one synthesis at a time; a bounded wait
    return app, theme


# The synthesized image shown large (it keeps its own size when downloaded).
PAGE_CSS = ('#output img {width: 100%; height: 100%; object-fit: contain; image-rendering: pixelated;} '
            '#palette .swatch {display: inline-block; margin-right: 0.8em; white-space: nowrap;} '
            '#palette .swatch span {display: inline-block; width: 1em; height: 1em; margin-right: 0.3em; '
            'vertical-align: middle; border: 1px solid #888;}')


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: a closed port is free
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UserError(f'--port {port}: cannot serve on {host}:{port} ({exc.strerror}); choose another '
                            '--port') from None


def page_synthesizer(args: argparse.Namespace) -> Synthesizer:
    """The model of the command line; a diffusion model samples with the few-step solver unless --sampler is given."""
    synthesizer = synthesizer_from_arguments(args)
    if synthesizer.uses_sampler and args.sampler is None:  # a page answers in seconds
        synthesizer = synthesizer.with_sampling(sampler=DEMO_SAMPLER)
    return synthesizer


def main() -> None:
    args = build_parser().parse_args()
    # Looked for, not imported: a port in use is reported before gradio's import (seconds) and the model's load.
    if importlib.util.find_spec('gradio') is None:
        raise UserError('the demo needs gradio: pip install -e ".[demo]" (or -r requirements-demo.txt)')
    check_port_free(args.host, args.port)
    synthesizer = page_synthesizer(args)
    model = ' '.join(f'--{key} {getattr(args, key)}'
                     for key in ('model', 'preset', 'name', 'checkpoints_dir', 'which_epoch')
                     if getattr(args, key) not in (None, DEFAULT_CHECKPOINTS_DIR))
    app, theme = build_app(Demo(synthesizer, model + (' --use_ema' if args.use_ema else ''), args.max_input_pixels),
                           args.max_queue)
    print(f'Serving on http://{args.host}:{args.port} (Ctrl-C to stop)', flush=True)
    app.launch(**launch_settings(args), theme=theme, css=PAGE_CSS, ssr_mode=False, quiet=True, footer_links=['api'])


def launch_settings(args: argparse.Namespace) -> dict:
    """Where the page is served, and the largest upload gradio takes."""
    return {'server_name': args.host, 'server_port': args.port, 'max_file_size': args.max_file_size}


if __name__ == '__main__':
    run_cli(main)
