"""The audit's configuration files: ``[tool.caffefill]`` in ``pyproject.toml``,
or a ``caffefill.toml`` / ``.caffefill.toml`` holding the same keys at top level.

Discovery follows ruff's: for each audited file, the nearest configuration
upward from the file's folder applies (in one folder ``.caffefill.toml`` wins
over ``caffefill.toml``, which wins over a ``pyproject.toml`` that has a
``[tool.caffefill]`` table; a ``pyproject.toml`` without one is passed over).
``--config FILE`` names one file for every path; ``--isolated`` ignores them
all.  Options on the command line take precedence over the file: ``--select``
replaces the file's ``select``, ``--extend-select`` and ``--ignore`` add to
it, ``--fail-on`` and the net-state options replace.

Globs (``include``, ``exclude``, ``per-file-ignores``, ``per-file-inputs``)
are relative to the folder of the file that sets them and use ``fnmatch``
syntax on ``/``-separated paths, where ``**/`` also matches no folder at all;
a pattern without ``/`` is also matched against the file's name alone.
"""

from __future__ import annotations

import fnmatch
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import CaffefillError
from ..messages import nearest

#: Configuration file names, most specific first.
CONFIG_NAMES = (".caffefill.toml", "caffefill.toml", "pyproject.toml")

#: Default globs of the files a folder walk audits.
DEFAULT_INCLUDE = ("*.prototxt",)

_SEVERITIES = ("error", "warning", "info")
_PHASES = ("TRAIN", "TEST")


class ConfigError(CaffefillError):
    """A configuration file that cannot be used (one line: file, key, what is wrong)."""


@dataclass(frozen=True)
class AuditConfig:
    """The settings of one configuration file (or the defaults, ``path`` None).

    ``select`` is None when the file does not set it (every code is then
    selected); ``per_file_ignores`` and ``per_file_inputs`` map a glob to
    codes and to ``NAME=dims`` shapes.
    """

    path: Path | None = None
    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    fail_on: str | None = None
    include: tuple[str, ...] = DEFAULT_INCLUDE
    extend_include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    per_file_inputs: tuple[tuple[str, tuple[tuple[str, tuple[int, ...]], ...]], ...] = ()
    inputs: tuple[tuple[str, tuple[int, ...]], ...] = ()
    allow_fields: tuple[str, ...] = ()
    phase: str | None = None
    stages: tuple[str, ...] | None = None
    level: int | None = None
    signal_threshold: float | None = None

    @property
    def root(self) -> Path:
        """The folder the file's globs are relative to."""
        return self.path.parent if self.path is not None else Path.cwd()

    # ------------------------------------------------------------- queries

    def relative(self, path: str | os.PathLike[str]) -> str | None:
        """``path`` relative to :attr:`root` with ``/`` separators, or None when
        it lies outside."""
        try:
            rel = Path(os.path.abspath(path)).relative_to(os.path.abspath(self.root))
        except ValueError:
            return None
        return rel.as_posix()

    def matches(self, pattern: str, path: str | os.PathLike[str]) -> bool:
        """Whether ``pattern`` (relative to :attr:`root`) matches ``path``."""
        name = os.path.basename(os.fspath(path))
        if "/" not in pattern.rstrip("/") and _glob(pattern, name):
            return True
        rel = self.relative(path)  # (only now: it costs more than the rest, per file walked)
        return rel is not None and _glob(pattern, rel)

    def included(self, path: str | os.PathLike[str]) -> bool:
        """Whether a folder walk audits ``path`` (explicit paths always are)."""
        if self.excluded(path):
            return False
        return any(self.matches(p, path) for p in (*self.include, *self.extend_include))

    def excluded(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` (a file or a folder) is excluded."""
        return any(self.matches(p, path) for p in self.exclude)

    def ignores_for(self, path: str | os.PathLike[str]) -> tuple[str, ...]:
        """The codes ``per-file-ignores`` silences in ``path``."""
        out: list[str] = []
        for pattern, codes in self.per_file_ignores:
            if self.matches(pattern, path):
                out.extend(codes)
        return tuple(out)

    def inputs_for(self, path: str | os.PathLike[str]) -> dict[str, tuple[int, ...]]:
        """The input shapes for ``path``: ``inputs``, then every matching
        ``per-file-inputs`` glob in file order (later ones win)."""
        shapes = dict(self.inputs)
        for pattern, given in self.per_file_inputs:
            if self.matches(pattern, path):
                shapes.update(given)
        return shapes


def _glob(pattern: str, rel: str) -> bool:
    pattern = pattern.rstrip("/")
    if fnmatch.fnmatchcase(rel, pattern):
        return True
    # ``**/x`` also matches ``x`` at the top; ``dir/**`` matches the folder itself.
    if pattern.startswith("**/") and _glob(pattern[3:], rel):
        return True
    return pattern.endswith("/**") and fnmatch.fnmatchcase(rel, pattern[:-3])


# ----------------------------------------------------------------- reading

_KEYS = (
    "select", "extend-select", "ignore", "fail-on", "include", "extend-include", "exclude",
    "per-file-ignores", "per-file-inputs", "inputs", "allow-fields", "phase", "stages",
    "level", "signal-threshold",
)


def _strings(where: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of strings")
    return tuple(value)


def _codes(where: str, value: object) -> tuple[str, ...]:
    from .engine import Selection

    codes = _strings(where, value)
    try:
        Selection.parse(codes, ())
    except CaffefillError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return tuple(c.strip().upper() for c in codes if c.strip())


def _shapes(where: str, value: object) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """``["data=3,224,224", ...]`` or ``{data = [3, 224, 224]}``."""
    if isinstance(value, dict):
        items = []
        for name, dims in value.items():
            if not isinstance(dims, list) or not all(
                    isinstance(d, int) and not isinstance(d, bool) for d in dims):
                raise ConfigError(f"{where}.{name}: expected a list of integers")
            items.append(f"{name}={','.join(str(d) for d in dims)}")
        value = items
    out = []
    for text in _strings(where, value):
        try:
            out.append(_parse_shape(text))
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return tuple(out)


def _parse_shape(text: str) -> tuple[str, tuple[int, ...]]:
    name, sep, dims = text.partition("=")
    parts = [p.strip() for p in dims.replace("x", ",").split(",")]
    if not sep or not name.strip() or not all(p.isdigit() for p in parts):
        raise ValueError(f"expected NAME=N,C,H,W, got {text!r}")
    return name.strip(), tuple(int(p) for p in parts)


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = nearest(word, choices)
    return f" (did you mean '{close}'?)" if close else ""


def _table(where: str, value: object) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table")
    return value


def parse_config(path: Path, data: Mapping[str, Any]) -> AuditConfig:
    """The settings of one file's table (``data``: the ``[tool.caffefill]`` table
    or a ``caffefill.toml``'s top level)."""
    head = f"{path}: [tool.caffefill]" if path.name == "pyproject.toml" else f"{path}:"
    config = AuditConfig(path=path)
    values: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{head} '{key}'"
        if key == "audit" and isinstance(value, dict):
            # ``[tool.caffefill.audit]`` is accepted as the same table.
            nested = parse_config(path, value)
            values.update({k: getattr(nested, k) for k in nested.__dataclass_fields__
                           if getattr(nested, k) != getattr(config, k)})
            continue
        if key not in _KEYS:
            raise ConfigError(f"{head} unknown key '{key}'{did_you_mean(key, _KEYS)}")
        attr = key.replace("-", "_")
        if key in ("select", "extend-select", "ignore"):
            values[attr] = _codes(where, value)
        elif key == "fail-on":
            if value not in _SEVERITIES:
                raise ConfigError(f"{where}: expected one of {', '.join(_SEVERITIES)}")
            values[attr] = value
        elif key in ("include", "extend-include", "exclude", "allow-fields"):
            values[attr] = _strings(where, value)
        elif key == "per-file-ignores":
            values[attr] = tuple((glob, _codes(f"{where} \"{glob}\"", codes))
                                 for glob, codes in _table(where, value).items())
        elif key == "per-file-inputs":
            values[attr] = tuple((glob, _shapes(f"{where} \"{glob}\"", shapes))
                                 for glob, shapes in _table(where, value).items())
        elif key == "inputs":
            values[attr] = _shapes(where, value)
        elif key == "phase":
            if not isinstance(value, str) or value.upper() not in _PHASES:
                raise ConfigError(f"{where}: expected \"TRAIN\" or \"TEST\"")
            values[attr] = value.upper()
        elif key == "stages":
            values[attr] = _strings(where, value)
        elif key == "level":
            if not isinstance(value, int) or isinstance(value, bool) \
                    or not -2**31 <= value < 2**31:
                raise ConfigError(f"{where}: expected an integer")
            values[attr] = value
        else:  # signal-threshold
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 1.0 < float(value) < float("inf"):
                raise ConfigError(f"{where}: expected a finite number > 1")
            values[attr] = float(value)
    return replace(config, **values)


def load_config(path: Path) -> AuditConfig | None:
    """The settings in ``path``; None for a ``pyproject.toml`` without
    ``[tool.caffefill]``.  Raises ConfigError for a file that cannot be read."""
    # Here: a run that finds no configuration does not pay for the TOML parser.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on the oldest supported Python in CI
        import tomli as tomllib

    try:
        with open(path, "rb") as handle:
            raw = handle.read((1 << 20) + 1)
        if len(raw) > 1 << 20:
            raise ConfigError(f"{path}: the configuration is larger than 1 MiB")
        data = tomllib.loads(raw.decode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration: "
                          f"{exc.strerror or exc}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    if path.name == "pyproject.toml":
        tool = data.get("tool")
        if not isinstance(tool, dict) or "caffefill" not in tool:
            return None
        return parse_config(path, _table(f"{path}: [tool.caffefill]", tool["caffefill"]))
    return parse_config(path, data)


@dataclass(eq=False, repr=False)  # one per run, never compared or shown
class ConfigFinder:
    """Finds and caches the configuration that applies to each path."""

    fixed: AuditConfig | None = None
    isolated: bool = False
    _by_folder: dict[Path, AuditConfig] = field(default_factory=dict)

    def for_path(self, path: str | os.PathLike[str]) -> AuditConfig:
        """The configuration of the nearest file upward from ``path``'s folder."""
        if self.fixed is not None:
            return self.fixed
        if self.isolated:
            return AuditConfig()
        start = Path(os.path.abspath(path))
        folder = start if start.is_dir() else start.parent
        seen: list[Path] = []
        found = AuditConfig()
        for candidate in (folder, *folder.parents):
            if candidate in self._by_folder:
                found = self._by_folder[candidate]
                break
            seen.append(candidate)
            config = self._in_folder(candidate)
            if config is not None:
                found = config
                break
        for folder_seen in seen:
            self._by_folder[folder_seen] = found
        return found

    @staticmethod
    def _in_folder(folder: Path) -> AuditConfig | None:
        for name in CONFIG_NAMES:
            candidate = folder / name
            if candidate.is_file():
                config = load_config(candidate)
                if config is not None:
                    return config
        return None


def merge_codes(config: AuditConfig, select: Sequence[str] | None,
                extend_select: Iterable[str], ignore: Iterable[str],
                path: str | os.PathLike[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The (select, ignore) prefixes for one file: the file's, then the command
    line's on top (``select`` None when not given there)."""
    chosen = tuple(select) if select else (config.select or ())
    if chosen:  # with nothing selected every code is, extended or not
        chosen = (*chosen, *config.extend_select, *extend_select)
    ignored = (*config.ignore, *config.ignores_for(path), *ignore)
    return chosen, tuple(ignored)
