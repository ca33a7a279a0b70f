"""The README's and Getting started's code blocks run as written, in a folder of a user's own.

Python blocks are executed (the README's twice, as a user who runs the quickstart again
would); every ``bayescale`` line of a bash block is run through the command line and must
exit 0. The runs file they name is written first, with the column names they map.
"""

import re
import shlex
import warnings
from pathlib import Path

import pytest

from bayescale.cli import main
from tests.conftest import simulate_runs

ROOT = Path(__file__).resolve().parents[2]
DOCS = {"README": ROOT / "README.md", "getting-started": ROOT / "docs" / "getting-started.md"}

pytestmark = pytest.mark.needs_data


def blocks(path: Path, language: str) -> list[str]:
    """Return the fenced code blocks of ``language`` in a Markdown file."""
    return re.findall(rf"^```{language}\n(.*?)^```", path.read_text(), flags=re.S | re.M)


def commands(block: str) -> list[list[str]]:
    """Return the ``bayescale`` command lines of a bash block, split as a shell would."""
    lines = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] == "bayescale":
            lines.append(words[1:])
    return lines


@pytest.fixture
def users_folder(tmp_path, monkeypatch, offline_mirror):
    monkeypatch.chdir(tmp_path)
    runs = simulate_runs(seed=3)
    runs.rename(columns={"N": "Model Size"}).to_csv("my_runs.csv", index=False)
    runs.to_csv("mine.csv", index=False)
    return tmp_path


@pytest.mark.parametrize("name", list(DOCS))
def test_python_blocks_run_as_written(users_folder, name):
    found = blocks(DOCS[name], "python")
    assert found, f"{name} has no Python block"
    for block in found * (2 if name == "README" else 1):  # a second run too
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # what is tested: no error
            exec(compile(block, f"{name} block", "exec"), {})


@pytest.mark.parametrize("name", list(DOCS))
def test_bayescale_lines_of_bash_blocks_run_as_written(users_folder, name, capsys):
    lines = [line for block in blocks(DOCS[name], "bash") for line in commands(block)]
    assert lines, f"{name} has no bayescale command"
    for words in lines:
        if words == ["--help"]:
            with pytest.raises(SystemExit) as stop:
                main(words)
            assert stop.value.code == 0
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            status = main(words)
        assert status == 0, (words, capsys.readouterr().err)
