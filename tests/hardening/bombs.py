"""Files that are small to send and costly to decode: the decode budget's test cases.

Each is built from a valid file that Pillow writes, then inflated where the format allows
repetition: empty progressive scans, tiny markers, chunks and extension blocks.
"""

import io
import struct
import zlib

from PIL import Image

SIDE = 4096  # the default TINYSERVE_MAX_IMAGE_PIXELS is SIDE x SIDE


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def scan_heavy_jpeg(scans: int, side: int = SIDE) -> bytes:
    """A progressive greyscale JPEG followed by ``scans`` empty AC scans: each makes the decoder walk every block."""
    data = encoded(Image.new("L", (side, side), 255), "JPEG", progressive=True, quality=50)
    empty_scan = b"\xff\xda\x00\x08\x01\x01\x00\x01\x3f\x00"  # SOS: 1 component, AC band 1-63, no data
    return data[:-2] + empty_scan * scans + b"\xff\xd9"


def jpeg_with_markers(count: int) -> bytes:
    """A small JPEG with ``count`` empty comment segments before its frame header."""
    data = encoded(Image.new("L", (64, 64), 255), "JPEG")
    return data[:2] + b"\xff\xfe\x00\x02" * count + data[2:]


def png_strip(width: int, height: int) -> bytes:
    """A 1-bit PNG: a 1 x 16,777,216 strip is tens of KB and costs the decoder per row."""
    return encoded(Image.new("1", (width, height), 1), "PNG")


def png_with_chunks(count: int) -> bytes:
    """A small PNG with ``count`` empty ancillary chunks before its image data."""
    data = encoded(Image.new("L", (64, 64), 255), "PNG")
    chunk = struct.pack(">I", 0) + b"abCd" + struct.pack(">I", zlib.crc32(b"abCd"))
    return data[:33] + chunk * count + data[33:]  # after the signature and IHDR


def gif_with_comments(count: int) -> bytes:
    """A small GIF with ``count`` empty comment extensions before its first frame."""
    data = encoded(Image.new("L", (64, 64), 255), "GIF")
    flags = data[10]
    start = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    return data[:start] + b"\x21\xfe\x00" * count + data[start:]


def large_lossless_webp(side: int = SIDE) -> bytes:
    """A blank lossless WebP: a few hundred bytes that decode to side x side pixels."""
    return encoded(Image.new("L", (side, side), 255), "WEBP", lossless=True)
