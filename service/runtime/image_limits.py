"""What an image file may cost to decode, checked from its bytes before any pixel is decoded.

A pixel limit alone does not bound decoding: a small progressive JPEG can repeat thousands of
empty scans (the decoder walks every block of the image once per scan), and a file can hold
millions of tiny JPEG markers, PNG chunks or GIF blocks that Pillow reads one at a time in
Python before it decodes anything. These checks walk the file's structure with a bounded
number of steps and refuse such files with ``InputTooLargeError``; a file they cannot make
sense of is left to Pillow, which reports it as undecodable.
"""

import struct

from service.runtime.errors import InputTooLargeError, InvalidInputError

# libjpeg's default progressive script has 10 scans for colour and 6 for greyscale; tools that
# tune the script stay well under a few dozen.
MAX_JPEG_SCANS = 100
# Segments before the first scan: APPn, tables, frame header. Cameras write a few dozen at most.
MAX_JPEG_MARKERS = 1000
# Encoders cut image data into chunks of 8 KiB or more, so an 8 MiB PNG has about a thousand.
MAX_PNG_CHUNKS = 10_000
# Extensions and their sub-blocks before the first frame of a GIF (loop count, comments, XMP).
MAX_GIF_BLOCKS = 4096
# Width and height a side can be at most this many times the other: taller or wider strips
# cost the decoder per row without ever holding a digit.
MAX_ASPECT_RATIO = 64

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SOS = b"\xff\xda"
# JPEG markers that stand alone, without a length: TEM, RST0-7, SOI, EOI.
_STANDALONE = {0x01, *range(0xD0, 0xD8), 0xD8, 0xD9}
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")


def check_structure(data: bytes) -> None:
    """Refuse (413) a JPEG, PNG or GIF whose structure would cost too much to decode."""
    if data.startswith(b"\xff\xd8"):
        _check_jpeg(data)
    elif data.startswith(PNG_SIGNATURE):
        _check_png(data)
    elif data.startswith((b"GIF87a", b"GIF89a")):
        _check_gif(data)


def check_aspect_ratio(width: int, height: int) -> None:
    longer, shorter = max(width, height), max(min(width, height), 1)
    if longer > MAX_ASPECT_RATIO * shorter:
        raise InvalidInputError(
            f"the image is {width}x{height} pixels, one side more than {MAX_ASPECT_RATIO} times the other; "
            f"crop it to the digit (at most {MAX_ASPECT_RATIO}:1)"
        )


def _check_jpeg(data: bytes) -> None:
    position, markers = 2, 0
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return  # not where a marker should be: Pillow reports the broken file
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        markers += 1
        if markers > MAX_JPEG_MARKERS:
            raise InputTooLargeError(
                f"the JPEG has more than {MAX_JPEG_MARKERS} segments before its image data; "
                "save it again with an image editor to drop the extra metadata"
            )
        if marker in _STANDALONE:
            position += 2
            continue
        if marker == _SOS[1]:
            _check_jpeg_scans(data, position)
            return
        (length,) = _U16.unpack_from(data, position + 2)
        position += 2 + length


def _check_jpeg_scans(data: bytes, first_scan: int) -> None:
    # Image data escapes every 0xFF byte as FF 00, so FF DA after the first scan starts a scan.
    scans = data.count(_SOS, first_scan)
    if scans > MAX_JPEG_SCANS:
        raise InputTooLargeError(
            f"the JPEG has {scans} scans; at most {MAX_JPEG_SCANS} are decoded. "
            "Save it as a baseline (non-progressive) JPEG or as PNG"
        )


def _check_png(data: bytes) -> None:
    position, chunks = len(PNG_SIGNATURE), 0
    while position + 8 <= len(data):
        chunks += 1
        if chunks > MAX_PNG_CHUNKS:
            raise InputTooLargeError(
                f"the PNG has more than {MAX_PNG_CHUNKS} chunks; "
                "save it again with an image editor (it writes the image data in a few large chunks)"
            )
        (length,) = _U32.unpack_from(data, position)
        if data[position + 4 : position + 8] == b"IEND":
            return
        position += 12 + length  # length, type, data, CRC


def _check_gif(data: bytes) -> None:
    if len(data) < 13:
        return
    flags = data[10]
    position = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)  # after the global colour table
    blocks = 0
    while position + 2 <= len(data) and data[position] == 0x21:  # "!": an extension, before the first frame
        position += 2  # introducer and label
        while True:  # the extension, then its sub-blocks up to the zero-length terminator
            blocks += 1
            if blocks > MAX_GIF_BLOCKS:
                raise InputTooLargeError(
                    f"the GIF has more than {MAX_GIF_BLOCKS} extension blocks before its first frame; "
                    "save it again with an image editor or send a PNG"
                )
            if position >= len(data) or not data[position]:
                break
            position += 1 + data[position]
        position += 1
