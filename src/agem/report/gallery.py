"""``results/{experiment}/figures/README.md``: every figure of the run with its caption, one page to browse.

The captions are the report's (``workflow/report/{stem}.rst``), so the gallery and
``snakemake --report`` say the same thing about each figure.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def rst_to_markdown(text: str) -> str:
    """The little reStructuredText the captions use (**bold**, ``code``) as Markdown."""
    return text.replace("``", "`").strip()


def gallery(figures: Iterable[str | Path], captions: str | Path, not_run: Iterable[str] = ()) -> str:
    """Markdown: per PNG figure its caption, the image and a link to its PDF; then the figures
    ``not_run`` (stems), which this run has no data for."""
    sections = ["# Figures\n\nThe paper's figures as this run redraws them (captions: workflow/report/*.rst).\n"]
    for figure in figures:
        figure = Path(figure)
        if figure.suffix != ".png":
            continue
        caption_file = Path(captions) / f"{figure.stem}.rst"
        caption = rst_to_markdown(caption_file.read_text(encoding="utf-8")) if caption_file.is_file() else figure.stem
        sections.append(f"## {figure.stem}\n\n{caption}\n\n![{figure.stem}]({figure.name})  \n"
                        f"[{figure.stem}.pdf]({figure.stem}.pdf)\n")
    not_run = list(not_run)
    if not_run:
        sections.append("## Not run\n\nNo runs of the datasets and methods these figures show, so no image: "
                        + ", ".join(not_run) + ".\n")
    return "\n".join(sections)
