"""HTML pages of image tables (dominate)."""
import datetime
import os
from typing import List

import dominate
from dominate.tags import a, br, h1, h3, img, meta, p, table, td, tr
from dominate.util import raw


class HTML:
    """A page at <web_dir>/index.html whose images live in <web_dir>/<image_subdir>/ (default images/)."""

    def __init__(self, web_dir: str, title: str, refresh: int = 0, image_subdir: str = 'images'):
        self.web_dir = web_dir
        self.image_subdir = image_subdir
        self.img_dir = os.path.join(web_dir, image_subdir)
        os.makedirs(self.img_dir, exist_ok=True)
        self.doc = dominate.document(title=title)
        with self.doc:
            h1(title)
            p(datetime.datetime.now().strftime('%I:%M%p on %B %d, %Y'))
        if refresh > 0:
            with self.doc.head:
                meta(http_equiv='refresh', content=str(refresh))

    def get_image_dir(self) -> str:
        return self.img_dir

    def add_header(self, text: str) -> None:
        with self.doc:
            h3(text)

    def add_raw(self, markup: str) -> None:
        with self.doc:
            raw(markup)

    def add_images(self, ims: List[str], txts: List[str], links: List[str], width: int = 512) -> None:
        """One table row of images; paths are relative to the image folder."""
        row = table(border=1, style='table-layout: fixed;')
        self.doc.add(row)
        with row, tr():
            for im, txt, link in zip(ims, txts, links):
                with td(style='word-wrap: break-word;', halign='center', valign='top'), p():
                    with a(href=os.path.join(self.image_subdir, link)):
                        img(style=f'width:{width}px', src=os.path.join(self.image_subdir, im))
                    br()
                    p(txt)

    def render(self) -> str:
        return self.doc.render()

    def save(self, filename: str = 'index.html') -> str:
        from util.atomic import atomic_write_text
        path = os.path.join(self.web_dir, filename)
        atomic_write_text(path, self.render())
        return path
