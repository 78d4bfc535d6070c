"""Defaults, and the user's config file that may override them.

The config file is TOML, ``config.toml`` in platformdirs' user config folder for "imgprep"
(``~/.config/imgprep/config.toml`` on Linux; ``IMGPREP_CONFIG`` names another file, which
must then exist), e.g.::

    workers = 4
    format = "png"
    quality = 90

Only the keys in ``DEFAULTS`` are accepted; command-line options always win over the file.
This module imports neither Pillow nor Typer: it is read on every start-up.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from imgprep.errors import UsageError

__all__ = [
    "DEFAULTS",
    "FORMATS",
    "MAX_PIXELS",
    "canonical_format",
    "default_workers",
    "load_user_defaults",
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


# PNG pixels are deflated by zlib-ng (see png.py), whose level 7 gives photos the size Pillow's
# default (zlib level 6) gives them, 1.5 times faster; its level 6 is 3-4% larger.
PNG_COMPRESS_LEVEL = 7

# --format names ("same" keeps each input's format), and the other spellings accepted for them.
FORMATS = ("same", "png", "jpeg", "webp", "tiff")
FORMAT_ALIASES = {"jpg": "jpeg", "tif": "tiff"}


def canonical_format(name: str) -> str:
    """``name`` as one of ``FORMATS`` (any case; ``jpg`` and ``tif`` are aliases)."""
    key = name.lower()
    key = FORMAT_ALIASES.get(key, key)
    if key not in FORMATS:
        known = ", ".join(FORMATS)
        raise UsageError(f"--format must be one of {known} (or jpg, tif), not {name!r}")
    return key


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
}


def user_config_path() -> Path:
    """Where the user's ``config.toml`` lives (it need not exist); ``IMGPREP_CONFIG`` overrides."""
    override = os.environ.get("IMGPREP_CONFIG")
    if override:
        return Path(override)
    from platformdirs import user_config_path as platform_config_path

    return platform_config_path(APP_NAME) / "config.toml"


def load_user_defaults(path: Path | None = None) -> dict[str, Any]:
    """``DEFAULTS`` updated with the keys of the config file, checked; missing file: defaults."""
    explicit = path is not None or bool(os.environ.get("IMGPREP_CONFIG"))
    path = user_config_path() if path is None else path
    values = dict(DEFAULTS)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit:  # a file the user named must be there: a typo must not pass silently
            raise UsageError(f"config file {path} does not exist") from None
        return values
    except PermissionError:
        if not explicit:
            # e.g. cron running as a user who may not enter the HOME that XDG points to:
            # there is no config of this user's to read, not a broken one.
            return values
        raise UsageError(f"cannot read config file {path}: permission denied") from None
    except OSError as error:
        raise UsageError(f"cannot read config file {path}: {error.strerror}") from error
    import tomllib  # here, not at the top: most runs have no config file (3 ms of start-up)

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"config file {path} is not valid TOML: {error}") from error
    for key, value in data.items():
        key = key.replace("-", "_")
        if key not in _TYPES:
            known = ", ".join(sorted(_TYPES))
            raise UsageError(f"config file {path}: unknown key {key!r} (known: {known})")
        expected = _TYPES[key]
        # bool is an int in Python; a config value `workers = true` is still a mistake.
        if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
            raise UsageError(
                f"config file {path}: {key} must be {expected[0].__name__}, not {value!r}"
            )
        if key == "format":
            try:
                value = canonical_format(str(value))
            except UsageError as error:
                raise UsageError(f"config file {path}: {error}") from None
        values[key] = value
    return values
