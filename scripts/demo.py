"""Paint a scene: a local web page that turns a painted label map into an image (gradio).

python scripts/demo.py --name NAME [--which_epoch latest] [--port 7860] [--host 127.0.0.1]
python scripts/demo.py --preset coco --name coco_best --which_epoch 100

Needs `pip install -r requirements-demo.txt`. The page's Synthesize and its API endpoint `synthesize` (for
gradio_client) use the same synthesis as scripts/synthesize.py, so a seed shown here reproduces with
`synthesize.py --seeds N`. Nothing is fetched from the network: analytics are off and the page uses system fonts.
"""
import os
import random
import socket
import sys
from typing import List, Optional, Tuple

os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from data.classes import LabelSet  # noqa: E402
from data.label_maps import file_values_to_channels, read_label_map, read_photo, render_label_map, snap_to_palette  # noqa: E402
from models.synthesizer import Synthesizer, add_model_arguments  # noqa: E402
from options.base_options import OptionParser  # noqa: E402
from util import util  # noqa: E402
from util.errors import UserError, run_cli  # noqa: E402

# Classes the example layouts use, by dataset (the first of each list the model has); other models use ids 0..3.
EXAMPLE_CLASSES = {
    'coco': ['sky-other', 'grass', 'tree', 'sea'],
    'ade20k': ['sky', 'grass', 'tree', 'mountain'],
    'cityscapes': ['sky', 'road', 'vegetation', 'car'],
}


def build_parser() -> OptionParser:
    parser = OptionParser(description=__doc__)
    parser.add_argument('-h', '--help', action='help', help='show this help message and exit')
    add_model_arguments(parser)
    parser.add_argument('--host', default='127.0.0.1', help='address to serve on (0.0.0.0: every interface)')
    parser.add_argument('--port', type=int, default=7860)
    return parser


def hex_color(color) -> str:
    return '#' + ''.join(f'{int(c):02x}' for c in color)


def class_choices(labels: LabelSet) -> List[str]:
    """'<id> <name>' per class, as the dropdown shows them (ids as in label map files)."""
    return [f'{labels.file_value_of_channel(c)} {name}' for c, name in enumerate(labels.names)]


def example_layouts(synthesizer: Synthesizer) -> List[Tuple[str, Image.Image]]:
    """A few built-in label maps in the model's palette: two bands, bands and a disc, and stripes."""
    labels = synthesizer.labels
    wanted = EXAMPLE_CLASSES.get(synthesizer.opt.dataset_mode, [])
    classes = [labels.names.index(name) for name in wanted if name in labels.names] or list(range(min(4, len(labels))))
    classes = (classes * 4)[:4]
    width, height = synthesizer.size
    ys, xs = np.mgrid[0:height, 0:width]
    bands = np.where(ys < height * 0.45, classes[0], classes[1])
    disc = np.where((ys - height * 0.6) ** 2 + (xs - width * 0.5) ** 2 < (min(height, width) * 0.22) ** 2, classes[2], bands)
    stripes = np.array(classes)[(xs * 4 // width) % 4]
    layouts = [('two bands', bands), ('bands and a disc', disc), ('stripes', stripes)]
    return [(title, render_label_map(torch.from_numpy(channels)[None], labels).convert('RGB')) for title, channels in layouts]


class Demo:
    """What the page does, apart from the page: also what the tests call."""

    def __init__(self, synthesizer: Synthesizer):
        self.synthesizer = synthesizer
        self.labels = synthesizer.labels

    def blank(self, choice: str) -> Image.Image:
        """A canvas at the model's size filled with one class."""
        color = tuple(int(c) for c in self.labels.colors[self.channel(choice)])
        return Image.new('RGB', self.synthesizer.size, color)

    def channel(self, choice: str) -> int:
        return class_choices(self.labels).index(choice)

    def style(self, seed: Optional[float], style_photo: Optional[str]) -> Optional[torch.Tensor]:
        if not self.synthesizer.uses_style:
            return None
        if style_photo:
            photo = read_photo(style_photo, self.synthesizer.size, self.synthesizer.opt.output_nc)
            return self.synthesizer.style_from_photo(photo[None])
        return self.synthesizer.styles_from_seeds([int(seed or 0)])

    def synthesize_channels(self, channels: torch.Tensor, seed: Optional[float], style_photo: Optional[str]) -> Image.Image:
        synthesizer = self.synthesizer
        image = synthesizer.generate(synthesizer.semantics(channels[None]), self.style(seed, style_photo))[0]
        return Image.fromarray(util.tensor2im(image))

    def synthesize_file(self, label_path: str, seed: Optional[float], style_photo: Optional[str]) -> Image.Image:
        """The API endpoint: a label-map file read exactly as scripts/synthesize.py reads it."""
        if not label_path:
            raise UserError('give a label map')
        channels = read_label_map(label_path, self.labels, self.synthesizer.size)
        return self.synthesize_channels(channels, seed, style_photo)

    def synthesize_painting(self, painting: Image.Image, seed: Optional[float], style_photo: Optional[str]) -> Image.Image:
        """A painted canvas: every pixel snapped to the nearest class colour (brush strokes come back
        anti-aliased, with colours between two classes), then synthesized."""
        rgb = np.array(painting.convert('RGB'))
        values = snap_to_palette(rgb, self.labels)
        channels = file_values_to_channels(values, self.labels, self.synthesizer.size, 'the canvas')
        return self.synthesize_channels(channels, seed, style_photo)

    def load_label_map(self, label_path: str) -> Image.Image:
        """An uploaded label map (ids or palette colours), shown in the palette at the model's size."""
        channels = read_label_map(label_path, self.labels, self.synthesizer.size)
        return render_label_map(channels, self.labels).convert('RGB')


def build_app(demo: Demo):
    import gradio as gr
    labels, synthesizer = demo.labels, demo.synthesizer
    choices = class_choices(labels)
    width, height = synthesizer.size
    opt = synthesizer.opt
    model = f'--name {opt.name} --which_epoch {opt.which_epoch}'

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

    def synthesize(editor, seed, style_photo):
        image = reported(demo.synthesize_painting)(painting_of(editor), seed, style_photo)
        note = ('' if not synthesizer.uses_style or style_photo else
                f'Seed {int(seed or 0)}: reproduce with `python scripts/synthesize.py {model} --labels MAP.png '
                f'--seeds {int(seed or 0)}` on this label map (download it from the canvas).')
        return image, note

    font = ['ui-sans-serif', 'system-ui', 'sans-serif']  # system fonts: the default theme would fetch web fonts
    theme = gr.themes.Default(font=font, font_mono=['ui-monospace', 'monospace'])
    with gr.Blocks(title='CC-FPSE: paint a scene', analytics_enabled=False) as app:
        gr.Markdown(f'## Paint a scene\nModel `{opt.name}` (epoch {opt.which_epoch}, {opt.dataset_mode}, '
                    f'{width}×{height}). Pick a class, paint, press **Synthesize**.')
        with gr.Row():
            with gr.Column():
                choice = gr.Dropdown(choices, value=choices[0], label='class (type to search)', filterable=True,
                                     elem_id='class_choice')
                start = demo.blank(choices[0])
                editor = gr.ImageEditor(value={'background': start, 'layers': [], 'composite': start}, type='pil',
                                        image_mode='RGB', canvas_size=(width, height), fixed_canvas=True,
                                        brush=brush_of(choices[0]), layers=False, transforms=(), format='png',
                                        label='label map', elem_id='canvas')
                with gr.Row():
                    fill = gr.Button('Fill with the class')
                    upload = gr.UploadButton('Open a label map', file_types=['image'])
                examples = example_layouts(synthesizer)
                with gr.Row():
                    example_buttons = [(gr.Button(f'Example: {title}', size='sm'), image) for title, image in examples]
            with gr.Column():
                with gr.Row(visible=synthesizer.uses_style):
                    seed = gr.Number(value=0, precision=0, label='seed', minimum=0)
                    new_seed = gr.Button('New random style')
                style_photo = gr.Image(type='filepath', label='style photo (instead of the seed)', visible=synthesizer.uses_style)
                run = gr.Button('Synthesize', variant='primary', elem_id='synthesize')
                output = gr.Image(type='pil', format='png', label='synthesized image', elem_id='output', buttons=['download'],
                                  height=360)
                note = gr.Markdown()

        page_only = {'api_visibility': 'private'}  # page helpers, not API endpoints
        choice.change(lambda c: gr.ImageEditor(brush=brush_of(c)), choice, editor, **page_only)
        fill.click(lambda c: demo.blank(c), choice, editor, **page_only)
        upload.upload(lambda f: reported(demo.load_label_map)(f), upload, editor, **page_only)
        for button, image in example_buttons:
            button.click(lambda image=image: image, None, editor, **page_only)
        new_seed.click(lambda: random.randrange(2 ** 31), None, seed, **page_only)
        run.click(synthesize, [editor, seed, style_photo], [output, note], api_name='paint')

        # The API for scripts (gradio_client): a label-map file, a seed, a style photo or None -> the image. Files,
        # not images, so that an unreadable upload reaches our checks and gets their message.
        api_inputs = [gr.File(type='filepath', visible=False), gr.Number(value=0, precision=0, visible=False),
                      gr.File(type='filepath', visible=False)]
        api_output = gr.Image(type='pil', format='png', visible=False)
        gr.Button(visible=False).click(lambda path, s, photo: reported(demo.synthesize_file)(path, s, photo),
                                       api_inputs, api_output, api_name='synthesize')
    app.queue(default_concurrency_limit=1)  # requests wait their turn: one synthesis at a time
    return app, theme


# The synthesized image shown large (it keeps its own size when downloaded).
PAGE_CSS = '#output img {width: 100%; height: 100%; object-fit: contain; image-rendering: pixelated;}'


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: a closed port is free
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UserError(f'--port {port}: cannot serve on {host}:{port} ({exc.strerror}); choose another --port') from None


def main() -> None:
    args = build_parser().parse_args()
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise UserError('the demo needs gradio: pip install -r requirements-demo.txt') from None
    check_port_free(args.host, args.port)
    synthesizer = Synthesizer.from_arguments(args)
    app, theme = build_app(Demo(synthesizer))
    print(f'Serving on http://{args.host}:{args.port} (Ctrl-C to stop)', flush=True)
    app.launch(server_name=args.host, server_port=args.port, theme=theme, css=PAGE_CSS, ssr_mode=False, quiet=True,
               footer_links=['api'])


if __name__ == '__main__':
    run_cli(main)
