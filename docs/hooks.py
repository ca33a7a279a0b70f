"""MkDocs hooks: the CLI reference from the parsers, the changelog as a page, plain roles.

Nothing here is written into ``docs/``; the pages are made at build time from the sources they
describe, so they cannot drift from them.
"""

from __future__ import annotations

import argparse
import io
import re
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


# A Sphinx role in a numpydoc docstring (":func:`bayescale.fit`", ":data:`~x.LIMIT`"), as the
# API reference renders it: mkdocstrings passes the role through and the backticks become code.
SPHINX_ROLE = re.compile(
    r":(?:func|meth|class|data|attr|mod|obj|exc|py:\w+):<code>(~?)([^<]+)</code>")
# ... and inside a parameter's type, where the backticks stay as they are
RAW_ROLE = re.compile(r":(?:func|meth|class|data|attr|mod|obj|exc|py:\w+):`(~?)([^`]+)`")


def _name(match: re.Match) -> str:
    tilde, name = match.groups()
    return name.rsplit(".", 1)[-1] if tilde else name


def on_page_content(html, page, config, files):
    """Show the docstrings' Sphinx roles as the names they refer to (no raw ``:func:``)."""
    html = SPHINX_ROLE.sub(lambda match: f"<code>{_name(match)}</code>", html)
    return RAW_ROLE.sub(_name, html)
