"""Defaults, and the user's config file that may override them.

The config file is TOML, ``config.toml`` in platformdirs' user config folder for "imgprep"
(``~/.config/imgprep/config.toml`` on Linux; ``IMGPREP_CONFIG`` names another file, which
must then exist), e.g.::

    workers = 4
    format = "png"
    quality = 90

    [presets.thumbs]            # imgprep --preset thumbs -i photos -o thumbs
    steps = "resize 256x256 --mode cover"
    format = "webp"

Only the keys in ``DEFAULTS`` are accepted at the top, and ``PRESET_TYPES`` in a preset;
command-line options win over a preset, which wins over the top of the file.
This module imports neither Pillow nor Typer: it is read on every start-up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imgprep.errors import UsageError

__all__ = [
    "DEFAULTS",
    "FORMATS",
    "MAX_PIXELS",
    "ON_COLLISION",
    "PRESET_TYPES",
    "Preset",
    "canonical_format",
    "default_max_memory",
    "default_workers",
    "format_bytes",
    "load_presets",
    "load_user_defaults",
    "parse_byte_size",
    "user_config_path",
]

APP_NAME = "imgprep"

# Pillow's own decompression-bomb threshold (PIL.Image.MAX_IMAGE_PIXELS); spelled out here so
# start-up does not import Pillow. A test checks the two agree.
MAX_PIXELS = 89_478_485


def default_workers() -> int:
    """Worker threads to use: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_max_memory() -> int:
    """The default memory ceiling of a run (``--max-memory``): a quarter of the machine's RAM,
    at most 2 GiB (1 GiB where the RAM cannot be read)."""
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system that says
        return 1 << 30
    return max(1 << 20, min(ram // 4, 2 << 30))


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_byte_size(text: str) -> int:
    """``512M``, ``2G``, ``1.5G``, ``300000000`` (bytes; K, M, G, T are powers of 1024, any
    case, with an optional ``B`` or ``iB``) as a number of bytes; ``ValueError`` otherwise."""
    stripped = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = stripped[-1:] if stripped[-1:] in "KMGT" else ""
    number = stripped[: len(stripped) - len(unit)].strip()
    if not number or not number.replace(".", "", 1).isdigit() or not number.isascii():
        raise ValueError(f"not a size: {text!r}")
    return int(float(number) * _UNITS[unit])


def format_bytes(count: int) -> str:
    """``count`` bytes for a person: 512 MiB, 1.5 GiB, 800 KiB."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size:
            return f"{count / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{count} bytes"


# PNG pixels are deflated by zlib-ng (see png.py), whose level 7 gives photos the size Pillow's
# default (zlib level 6) gives them, 1.5 times faster; its level 6 is 3-4% larger.
PNG_COMPRESS_LEVEL = 7

# --format names ("same" keeps each input's format), and the other spellings accepted for them.
FORMATS = ("same", "png", "jpeg", "webp", "tiff", "avif")  # avif: where Pillow has the plugin
FORMAT_ALIASES = {"jpg": "jpeg", "tif": "tiff"}


def canonical_format(name: str) -> str:
    """``name`` as one of ``FORMATS`` (any case; ``jpg`` and ``tif`` are aliases)."""
    key = name.lower()
    key = FORMAT_ALIASES.get(key, key)
    if key not in FORMATS:
        known = ", ".join(FORMATS)
        raise UsageError(f"--format must be one of {known} (or jpg, tif), not {name!r}")
    return key


# What --on-collision may say: two inputs with one output name refuse the run, fail alone, or
# get their extensions added (see _clash).
ON_COLLISION = ("fail", "skip", "suffix")

# Where a run's work is computed: --executor's choices
EXECUTORS = ("threads", "dask")

# Defaults of the global options that a config file may override, with the type each must have.
DEFAULTS: dict[str, Any] = {
    "format": "same",
    "quality": None,  # None: the encoder's own default (Pillow: JPEG 75, WebP 80)
    "png_compress_level": PNG_COMPRESS_LEVEL,  # see above
    "optimize": False,
    "name": "{stem}{suffix}.{ext}",
    "workers": None,  # None: default_workers()
    "buffer": None,  # None: twice the workers
    "max_pixels": MAX_PIXELS,
    "max_memory": None,  # None: default_max_memory(); bytes, or a size such as "2G" in the file
    "on_collision": "fail",  # fail | skip | suffix (see _clash)
}
_TYPES: dict[str, tuple[type, ...]] = {
    "format": (str,),
    "quality": (int,),
    "png_compress_level": (int,),
    "optimize": (bool,),
    "name": (str,),
    "workers": (int,),
    "buffer": (int,),
    "max_pixels": (int,),
    "max_memory": (str, int),
    "on_collision": (str,),
}
# A preset may also set these, which shape its outputs (``seed``: what random steps draw).
PRESET_TYPES: dict[str, tuple[type, ...]] = {
    **_TYPES,
    "keep_icc": (bool,),
    "keep_metadata": (bool,),
    "depth": (str,),  # "8", "16" or "keep", as on the command line
    "seed": (int,),
    "lossless": (bool,),
}


def user_config_path() -> Path:
    """Where the user's ``config.toml`` lives (it need not exist); ``IMGPREP_CONFIG`` overrides."""
    override = os.environ.get("IMGPREP_CONFIG")
    if override:
        return Path(override)
    from platformdirs import user_config_path as platform_config_path

    return platform_config_path(APP_NAME) / "config.toml"


def _read_config(path: Path | None) -> tuple[Path, dict[str, Any]]:
    """The config file's path and its TOML data (empty when there is no file to read)."""
    explicit = path is not None or bool(os.environ.get("IMGPREP_CONFIG"))
    path = user_config_path() if path is None else path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit:  # a file the user named must be there: a typo must not pass silently
            raise UsageError(f"config file {path} does not exist") from None
        return path, {}
    except PermissionError:
        if not explicit:
            # e.g. cron running as a user who may not enter the HOME that XDG points to:
            # there is no config of this user's to read, not a broken one.
            return path, {}
        raise UsageError(f"cannot read config file {path}: permission denied") from None
    except OSError as error:
        raise UsageError(f"cannot read config file {path}: {error.strerror}") from error
    import tomllib  # here, not at the top: most runs have no config file (3 ms of start-up)

    try:
        return path, tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"config file {path} is not valid TOML: {error}") from error


def _checked(where: str, key: str, value: Any, types: dict[str, tuple[type, ...]]) -> Any:
    """``value`` of ``key`` if its type is right (``format`` made canonical); ``where`` starts
    the message (``config file PATH``)."""
    if key not in types:
        known = ", ".join(sorted(types))
        raise UsageError(f"{where}: unknown key {key!r} (known: {known})")
    expected = types[key]
    # bool is an int in Python; a config value `workers = true` is still a mistake.
    if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
        raise UsageError(f"{where}: {key} must be {expected[0].__name__}, not {value!r}")
    if key == "format":
        try:
            value = canonical_format(str(value))
        except UsageError as error:
            raise UsageError(f"{where}: {error}") from None
    if key == "max_memory" and isinstance(value, str):
        try:
            value = parse_byte_size(value)
        except ValueError:
            message = f"{where}: max_memory must be a size such as 2G, not {value!r}"
            raise UsageError(message) from None
    return value


def load_user_defaults(path: Path | None = None) -> dict[str, Any]:
    """``DEFAULTS`` updated with the keys of the config file, checked; missing file: defaults.
    The ``presets`` table is read by ``load_presets``."""
    path, data = _read_config(path)
    values = dict(DEFAULTS)
    for key, value in data.items():
        key = key.replace("-", "_")
        if key != "presets":
            values[key] = _checked(f"config file {path}", key, value, _TYPES)
    return values


@dataclass(frozen=True)
class Preset:
    """A named chain of the config file: ``[presets.NAME]`` with ``steps`` (text, split as a
    shell would, or a list of words) and settings under the config file's key names."""

    name: str
    path: Path  # the config file it is in
    words: tuple[str, ...]  # the step words
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        """How messages name it: ``config file PATH: preset 'NAME'``."""
        return f"config file {self.path}: preset {self.name!r}"


def load_presets(path: Path | None = None) -> tuple[Path, dict[str, Preset]]:
    """The config file's path and its presets, in the file's order, each checked (its keys and
    their types; the step words are parsed where they are used)."""
    path, data = _read_config(path)
    table = data.get("presets", {})
    if not isinstance(table, dict):
        raise UsageError(f"config file {path}: presets must be tables: [presets.NAME]")
    return path, {name: _preset(path, name, body) for name, body in table.items()}


def _preset(path: Path, name: str, body: Any) -> Preset:
    where = f"config file {path}: preset {name!r}"
    if not isinstance(body, dict):
        raise UsageError(f"{where} must be a table, [presets.{name}], not {body!r}")
    settings: dict[str, Any] = {}
    words: tuple[str, ...] = ()
    for key, value in body.items():
        key = key.replace("-", "_")
        if key == "steps":
            words = _preset_words(where, value)
        else:
            settings[key] = _checked(where, key, value, PRESET_TYPES)
    return Preset(name, path, words, settings)


def _preset_words(where: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, list) and all(isinstance(word, str) for word in value):
        return tuple(value)
    if not isinstance(value, str):
        raise UsageError(f"{where}: steps must be text or a list of words, not {value!r}")
    import shlex

    try:
        return tuple(shlex.split(value))
    except ValueError as error:  # an unclosed quote
        raise UsageError(
            f"{where}: steps cannot be split into words ({error}): {value!r}"
        ) from None
