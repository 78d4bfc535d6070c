"""imgprep's public file API: finding inputs, loading images, writing outputs atomically.

``find_inputs`` lists the inputs named by paths, folders and glob patterns; ``load_image``
reads and decodes one (EXIF orientation, shrink-on-load, damage checks); ``save_image`` writes
one output atomically in the format asked for. A bad input raises ``InputError(path, reason)``
and a failed output ``OutputError``, each with a short human reason, so a caller can report it
and go on.

The code lives in private modules, one job each: ``_discover`` (finding inputs), ``_decode``
(loading), ``_formats`` (output formats and extensions, by name), ``_encode`` (saving),
``_metadata`` (EXIF and XMP kept by ``--keep-metadata``) and ``_fs`` (atomic writes, the
manifest's journal, file identities). This module only re-exports their public names.
"""

from __future__ import annotations

from imgprep._decode import DecodeHint, LoadedImage, load_image
from imgprep._discover import IMAGE_EXTENSIONS, InputFile, find_inputs, read_path_list
from imgprep._encode import save_image
from imgprep._formats import (
    DEPTHS,
    OUTPUT_FORMATS,
    SIXTEEN_BIT_FORMATS,
    check_format_available,
    format_of_suffix,
    output_format,
)
from imgprep._fs import TEMP_SUFFIX, file_digest, file_identity, remove_stale_temp_files
from imgprep._metadata import METADATA_FORMATS, Metadata

__all__ = [
    "DEPTHS",
    "IMAGE_EXTENSIONS",
    "METADATA_FORMATS",
    "OUTPUT_FORMATS",
    "SIXTEEN_BIT_FORMATS",
    "TEMP_SUFFIX",
    "DecodeHint",
    "InputFile",
    "LoadedImage",
    "Metadata",
    "check_format_available",
    "file_digest",
    "file_identity",
    "find_inputs",
    "format_of_suffix",
    "load_image",
    "output_format",
    "read_path_list",
    "remove_stale_temp_files",
    "save_image",
]
