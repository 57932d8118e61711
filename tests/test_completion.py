"""``caffefill completion``: scripts generated from the parser; the bash one is run."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from caffefill.cli.app import COMMANDS, build_parser, main
from caffefill.cli.completion import script

BASH = shutil.which("bash")


def _complete(line: str) -> list[str]:
    """What the bash script offers for the command line ``line`` (the cursor at
    its end; a trailing space starts a new word)."""
    assert BASH is not None
    words = line.split() + ([""] if line.endswith(" ") else [])
    program = (script("bash", build_parser())
               + 'COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _caffefill\n'
               + 'complete -p caffefill\nprintf "%s\\n" "${COMPREPLY[@]}"\n')
    out = subprocess.run([BASH, "--norc", "--noprofile", "-c", program, "bash", *words],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    registration, *reply = out.splitlines()
    assert registration == "complete -o default -F _caffefill caffefill"
    return [r for r in reply if r]


@pytest.mark.skipif(BASH is None, reason="bash is not installed")
def test_bash_completes_commands_options_and_choices() -> None:
    assert _complete("caffefill ") == [*COMMANDS, "-h", "--help", "--version", "--debug"]
    assert _complete("caffefill i") == ["init"]
    assert _complete("caffefill --debug sh") == ["show"]
    assert _complete("caffefill init --ph") == ["--phase"]
    assert _complete("caffefill init --phase ") == ["TRAIN", "TEST"]
    assert _complete("caffefill init x.prototxt --format c") == ["caffemodel"]
    assert _complete("caffefill audit --fail-on w") == ["warning"]
    assert _complete("caffefill completion ") == ["bash", "zsh", "fish"]
    assert _complete("caffefill fill --variance-norm F") == ["FAN_IN", "FAN_OUT"]
    # Paths: nothing offered, so bash falls back to file names (-o default).
    assert _complete("caffefill init -o ") == []
    assert _complete("caffefill show ") == []


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_every_command_and_option_is_in_the_script(shell: str) -> None:
    text = script(shell, build_parser())
    for command in COMMANDS:
        assert command in text
    for option in ("--phase", "--max-memory", "--fail-on", "--variance-norm", "--stdin-filename"):
        assert (option[2:] if shell == "fish" else option) in text
    assert "TRAIN TEST" in text


def test_completion_command_prints_the_script(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "bash"]) == 0
    assert capsys.readouterr().out == script("bash", build_parser())
    with pytest.raises(SystemExit) as exc:
        main(["completion", "tcsh"])
    assert exc.value.code == 2
