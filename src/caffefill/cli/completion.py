"""``caffefill completion bash|zsh|fish``: a shell completion script.

The script is generated from the argparse parser itself (commands, their
options, the choices of options that have them), so a new command or option
completes without anyone editing a script.  An option's value or an argument
without choices completes as a file name.  Generated here rather than by a
completion library: the runtime dependencies are protobuf and numpy only, and
the parser holds everything a script needs.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from .options import EXIT_OK, add_common_args

SHELLS = ("bash", "zsh", "fish")


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "completion", help="print a shell completion script",
        description="Print a completion script for the shell.  bash: "
                    "`source <(caffefill completion bash)` (or save it as "
                    "~/.local/share/bash-completion/completions/caffefill); zsh: save it "
                    "as _caffefill in a folder of $fpath; fish: save it as "
                    "~/.config/fish/completions/caffefill.fish.")
    add_common_args(p)
    p.add_argument("shell", choices=SHELLS)
    p.set_defaults(func=run)


@dataclass
class Option:
    """One option: its spellings, its help, and what its value is."""

    flags: list[str]
    help: str
    takes_value: bool
    choices: list[str] | None
    repeats: bool


@dataclass
class Command:
    name: str
    help: str
    options: list[Option] = field(default_factory=list)
    #: Whether it takes positional arguments (completed as file names) ...
    positionals: bool = False
    #: ... or, when they have choices, these words.
    words: list[str] = field(default_factory=list)


def _help(action: argparse.Action) -> str:
    text = action.help if isinstance(action.help, str) and action.help != argparse.SUPPRESS \
        else ""
    first = re.split(r"[.;]\s", " ".join(text.split()), maxsplit=1)[0].rstrip(".")
    if first.count("(") > first.count(")"):  # cut inside a parenthesis
        first = first[:first.rindex("(")]
    return first.strip()


def _options(parser: argparse.ArgumentParser) -> tuple[list[Option], bool, list[str]]:
    options, positionals, words = [], False, []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue
        if not action.option_strings:
            if action.choices:
                words += [str(c) for c in action.choices]
            else:
                positionals = True
            continue
        options.append(Option(
            flags=list(action.option_strings), help=_help(action),
            takes_value=action.nargs != 0,
            choices=[str(c) for c in action.choices] if action.choices else None,
            repeats=isinstance(action, (argparse._AppendAction, argparse._CountAction))))
    return options, positionals, words


def describe(parser: argparse.ArgumentParser) -> tuple[list[Option], list[Command]]:
    """The top-level options and every command of ``parser``."""
    top, _, _ = _options(parser)
    commands = []
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {choice.dest: _help(choice) for choice in action._choices_actions}
        for name, sub in action.choices.items():
            commands.append(Command(name, helps.get(name, ""), *_options(sub)))
    return top, commands


def _words(items: list[str]) -> str:
    return " ".join(items)


def bash(top: list[Option], commands: list[Command]) -> str:
    lines = [
        "# bash completion for caffefill (`caffefill completion bash`)",
        "_caffefill() {",
        '    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"',
        '    local cmd="" opts="" words="" i',
        "    for ((i = 1; i < COMP_CWORD; i++)); do",
        '        if [[ "${COMP_WORDS[i]}" != -* ]]; then cmd="${COMP_WORDS[i]}"; break; fi',
        "    done",
        '    case "$cmd" in',
        '        "")',
        f'            COMPREPLY=($(compgen -W "{_words([c.name for c in commands])} '
        f'{_words([f for o in top for f in o.flags])}" -- "$cur"))',
        "            return ;;",
    ]
    for command in commands:
        lines.append(f"        {command.name})")
        value_cases = [
            f"                {'|'.join(o.flags)}) COMPREPLY=($(compgen -W "
            f'"{_words(o.choices)}" -- "$cur")); return ;;'
            for o in command.options if o.choices and o.takes_value]
        # Other values: an empty reply falls back to file names (complete -o default).
        files = [f for o in command.options if o.takes_value and not o.choices for f in o.flags]
        if files:
            value_cases.append(f"                {'|'.join(files)}) COMPREPLY=(); return ;;")
        if value_cases:
            lines += ['            case "$prev" in', *value_cases, "            esac"]
        lines.append(f'            opts="{_words([f for o in command.options for f in o.flags])}"'
                     f' words="{_words(command.words)}" ;;')
    lines += [
        "        *) return ;;",
        "    esac",
        '    if [[ "$cur" == -* ]]; then',
        '        COMPREPLY=($(compgen -W "$opts" -- "$cur"))',
        '    elif [[ -n "$words" ]]; then',
        '        COMPREPLY=($(compgen -W "$words" -- "$cur"))',
        "    else",
        "        COMPREPLY=()",
        "    fi",
        "}",
        "complete -o default -F _caffefill caffefill",
    ]
    return "\n".join(lines) + "\n"


def _zsh_text(text: str) -> str:
    """``text`` inside a single-quoted _arguments spec's brackets."""
    return re.sub(r"([\[\]:\\])", r"\\\1", text).replace("'", "'\\''")


def _zsh_option(option: Option) -> str:
    value = ""
    if option.takes_value:
        value = (f":value:({' '.join(option.choices)})" if option.choices
                 else ":file:_files")
    spec = f"[{_zsh_text(option.help)}]{value}'"
    if len(option.flags) == 1:
        return f"'{'*' if option.repeats else ''}{option.flags[0]}{spec}"
    exclusive = "" if option.repeats else f"({' '.join(option.flags)})"
    return f"'{'*' if option.repeats else ''}{exclusive}'{{{','.join(option.flags)}}}'{spec}"


def zsh(top: list[Option], commands: list[Command]) -> str:
    lines = [
        "#compdef caffefill",
        "# zsh completion for caffefill (`caffefill completion zsh`)",
        "_caffefill() {",
        "    local curcontext=$curcontext state line",
        "    local -a commands",
        "    commands=(",
        *(f"        '{c.name}:{_zsh_text(c.help)}'" for c in commands),
        "    )",
        "    _arguments -C \\",
        *(f"        {_zsh_option(o)} \\" for o in top),
        "        '1:command:->command' '*::argument:->argument'",
        "    case $state in",
        "        command) _describe command commands ;;",
        "        argument)",
        "            case $words[1] in",
    ]
    for command in commands:
        specs = [_zsh_option(o) for o in command.options]
        if command.words:
            specs.append(f"'*:argument:({' '.join(command.words)})'")
        elif command.positionals:
            specs.append("'*:file:_files'")
        lines.append(f"                {command.name}) _arguments \\")
        lines += [f"                    {s} \\" for s in specs[:-1]]
        lines.append(f"                    {specs[-1]} ;;" if specs else "                    ;;")
    lines += ["            esac ;;", "    esac", "}", '_caffefill "$@"']
    return "\n".join(lines) + "\n"


def _fish_text(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish_option(condition: str, option: Option) -> str:
    parts = ["complete -c caffefill", f"-n {_fish_text(condition)}"]
    for flag in option.flags:
        parts.append(f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}")
    if option.takes_value:
        parts.append(f"-x -a {_fish_text(' '.join(option.choices))}" if option.choices
                     else "-r -F")
    if option.help:
        parts.append(f"-d {_fish_text(option.help)}")
    return " ".join(parts)


def fish(top: list[Option], commands: list[Command]) -> str:
    lines = ["# fish completion for caffefill (`caffefill completion fish`)",
             "complete -c caffefill -f"]
    lines += [_fish_option("__fish_use_subcommand", o) for o in top]
    lines += [f"complete -c caffefill -n __fish_use_subcommand -a {c.name} "
              f"-d {_fish_text(c.help)}" for c in commands]
    for command in commands:
        condition = f"__fish_seen_subcommand_from {command.name}"
        lines += [_fish_option(condition, o) for o in command.options]
        if command.words:
            lines.append(f"complete -c caffefill -n {_fish_text(condition)} "
                         f"-a {_fish_text(' '.join(command.words))}")
        elif command.positionals:
            lines.append(f"complete -c caffefill -n {_fish_text(condition)} -F")
    return "\n".join(lines) + "\n"


def script(shell: str, parser: argparse.ArgumentParser) -> str:
    """The completion script of ``shell`` for ``parser``."""
    top, commands = describe(parser)
    return {"bash": bash, "zsh": zsh, "fish": fish}[shell](top, commands)


def run(args: argparse.Namespace) -> int:
    from .app import build_parser

    sys.stdout.write(script(args.shell, build_parser()))
    return EXIT_OK
