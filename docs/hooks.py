"""MkDocs hooks: the CLI reference from the parsers, and the changelog as a page.

Nothing here is written into ``docs/``; the pages are made at build time from the sources they
describe, so they cannot drift from them.
"""

from __future__ import annotations

import argparse
import io
from contextlib import redirect_stdout
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
CLI_MARKER = "<!-- cli-reference -->"


def _help_texts() -> str:
    """Every command's --help, as Markdown sections."""
    from bayescale.cli.main import _parser

    parser = _parser()
    parts = [_section("bayescale", parser)]
    for action in parser._subparsers._group_actions:
        for name, sub in action.choices.items():
            parts.append(_section(f"bayescale {name}", sub))
            for inner in (sub._subparsers._group_actions if sub._subparsers else ()):
                parts.extend(_section(f"bayescale {name} {inner_name}", inner_parser)
                             for inner_name, inner_parser in inner.choices.items())
    return "\n".join(parts)


def _section(title: str, parser: argparse.ArgumentParser) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        parser.print_help()
    return f"## `{title}`\n\n```text\n{out.getvalue().rstrip()}\n```\n"


def on_files(files, config):
    """Add the changelog from outside ``docs/`` as a page (mkdocs-jupyter adds the notebooks)."""
    files.append(File("CHANGELOG.md", str(ROOT), config["site_dir"],
                      config["use_directory_urls"]))
    return files


def on_page_markdown(markdown, page, config, files):
    """Fill the CLI reference page from the parsers."""
    if CLI_MARKER in markdown:
        return markdown.replace(CLI_MARKER, _help_texts())
    return markdown
