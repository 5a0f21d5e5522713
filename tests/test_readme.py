"""The README's two set-up commands are the ones that CI and the quickstart run; the Python examples of the docs
pages run as written."""
import os
import re
import textwrap

import pytest

from helpers import ROOT


def readme_commands():
    text = open(os.path.join(ROOT, 'README.md')).read()
    section = text.split('## Two commands', 1)[1].split('\n## ', 1)[0]
    return re.findall(r'```bash\n(.+?)\n```', section)


def test_readme_has_exactly_two_setup_commands():
    assert readme_commands() == ['bash scripts/quickstart.sh',
                                 'python -m pip install -q -e ".[test]" && python -m pytest -q -n 2']


def test_ci_runs_the_readme_test_command():
    ci = open(os.path.join(ROOT, '.ci', 'run')).read().strip().splitlines()
    assert ci[-1] == readme_commands()[1]


@pytest.mark.slow  # a full-size generator
def test_the_layout_sections_notebook_snippet_builds_the_released_generator(tmp_path, monkeypatch):
    """The snippet runs as written on a file in the released COCO layout: the constructor arguments it shows
    build exactly the released generator."""
    import torch

    from helpers import random_state, released_layout
    text = open(os.path.join(ROOT, 'docs', 'layout.md')).read()
    snippet = re.findall(r'```python\n(.+?)\n```', text, re.S)[0]
    folder = tmp_path / 'checkpoints' / 'coco_best'
    os.makedirs(folder)
    torch.manual_seed(0)
    torch.save(random_state(released_layout()['coco']['netG']), folder / '100_net_G.pth')
    monkeypatch.chdir(tmp_path)
    label = torch.randint(0, 183, (1, 1, 256, 256))
    semantics = torch.cat((torch.zeros(1, 183, 256, 256).scatter_(1, label, 1.0), torch.zeros(1, 1, 256, 256)), 1)
    namespace = {'semantics': semantics}
    with torch.no_grad():
        exec(snippet, namespace)
    assert namespace['images'].shape == (1, 3, 256, 256) and torch.isfinite(namespace['images']).all()
    from models.synthesizer import Synthesizer
    assert Synthesizer.from_pretrained('pretrained/my_generator').spec == namespace['spec']


def test_the_python_snippet_goes_from_a_label_file_to_a_png(tmp_path, monkeypatch):
    """The Synthesize section's Python example, as written, on a model trained here and a label map file."""
    import numpy as np
    from PIL import Image

    from helpers import save_trained_looking_model
    section = open(os.path.join(ROOT, 'docs', 'synthesis.md')).read()
    snippet = textwrap.dedent(re.findall(r'```python\n(.+?)\n  ```', section, re.S)[0])
    monkeypatch.chdir(tmp_path)
    save_trained_looking_model('checkpoints', 'quickstart', ['--dataset_mode', 'synthetic'])
    Image.fromarray((np.indices((64, 64)).sum(0) // 16 % 12).astype(np.uint8)).save('my_map.png')
    exec(snippet, {})
    assert Image.open('my_image.png').size == (64, 64)
