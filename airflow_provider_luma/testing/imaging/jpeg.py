"""
A small baseline JPEG encoder in pure Python (JFIF, YCbCr 4:2:0, standard Huffman tables).

It uses the AAN fast forward DCT (as in the IJG's ``jfdctflt.c``) with the quantisation folded
into the AAN scale factors, and packs each block's bits through one Python integer, so a
256 x 144 picture encodes in a few tens of milliseconds.
"""

from __future__ import annotations

import struct
from functools import lru_cache

# Zigzag position -> natural (row-major) index.
ZIGZAG = (
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
    12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
    35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
)  # fmt: skip

# ITU-T T.81 Annex K quantisation tables, natural order.
_LUMA_QUANT = (
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip
_CHROMA_QUANT = (
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
) + (99,) * 32  # fmt: skip

# ITU-T T.81 Annex K Huffman tables: code counts per length 1..16, then symbols.
_DC_LUMA_BITS = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
_DC_CHROMA_BITS = (0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0)
_DC_VALUES = tuple(range(12))
_AC_LUMA_BITS = (0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D)
_AC_LUMA_VALUES = bytes.fromhex(
    "01020300041105122131410613516107227114328191a1082342b1c11552d1f0"
    "2433627282090a161718191a25262728292a3435363738393a434445464748494a"
    "535455565758595a636465666768696a737475767778797a838485868788898a"
    "92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6"
    "c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9fa"
)
_AC_CHROMA_BITS = (0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77)
_AC_CHROMA_VALUES = bytes.fromhex(
    "000102031104052131061241510761711322328108144291a1b1c109233352f0"
    "156272d10a162434e125f11718191a262728292a35363738393a434445464748"
    "494a535455565758595a636465666768696a737475767778797a828384858687"
    "88898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3"
    "c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8e9eaf2f3f4f5f6f7f8f9fa"
)

_AAN_SCALE = (1.0, 1.387039845, 1.306562965, 1.175875602, 1.0, 0.785694958, 0.541196100, 0.275899379)
_C4 = 0.707106781
_C6 = 0.382683433
_C2_MINUS_C6 = 0.541196100
_C2_PLUS_C6 = 1.306562965


def _huffman_codes(bits: tuple[int, ...], values: bytes | tuple[int, ...]) -> list[tuple[int, int]]:
    """Return ``(code, length)`` per symbol (index 0..255) for a JPEG Huffman table."""
    if sum(bits) != len(values) or len(set(values)) != len(values):
        raise ValueError("inconsistent Huffman table")
    table = [(0, 0)] * 256
    code = 0
    k = 0
    for length, count in enumerate(bits, start=1):
        for _ in range(count):
            table[values[k]] = (code, length)
            code += 1
            k += 1
        code <<= 1
    return table


def _dht_segment(table_class_id: int, bits: tuple[int, ...], values: bytes | tuple[int, ...]) -> bytes:
    return bytes([table_class_id, *bits, *values])


def _scaled_quant(base: tuple[int, ...], quality: int) -> list[int]:
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [min(255, max(1, (value * scale + 50) // 100)) for value in base]


@lru_cache(maxsize=8)
def _tables(quality: int) -> tuple[list[int], list[int], list[tuple[int, float]], list[tuple[int, float]]]:
    """Quant tables (natural order) and the (natural index, divisor) pairs in zigzag order."""
    luma = _scaled_quant(_LUMA_QUANT, quality)
    chroma = _scaled_quant(_CHROMA_QUANT, quality)

    def divisors(quant: list[int]) -> list[tuple[int, float]]:
        return [(i, 1.0 / (quant[i] * _AAN_SCALE[i >> 3] * _AAN_SCALE[i & 7] * 8.0)) for i in ZIGZAG]

    return luma, chroma, divisors(luma), divisors(chroma)


_DC_LUMA = _huffman_codes(_DC_LUMA_BITS, _DC_VALUES)
_DC_CHROMA = _huffman_codes(_DC_CHROMA_BITS, _DC_VALUES)
_AC_LUMA = _huffman_codes(_AC_LUMA_BITS, _AC_LUMA_VALUES)
_AC_CHROMA = _huffman_codes(_AC_CHROMA_BITS, _AC_CHROMA_VALUES)


def _fdct_quantize(rows: list[bytes], x: int, y: int, divisors: list[tuple[int, float]]) -> list[int]:
    """Forward DCT of the 8x8 block at (x, y), quantised, in zigzag order."""
    t = [0.0] * 64
    for r in range(8):
        a0, a1, a2, a3, a4, a5, a6, a7 = rows[y + r][x : x + 8]
        u0 = a0 + a7
        u7 = a0 - a7
        u1 = a1 + a6
        u6 = a1 - a6
        u2 = a2 + a5
        u5 = a2 - a5
        u3 = a3 + a4
        u4 = a3 - a4
        u10 = u0 + u3
        u13 = u0 - u3
        u11 = u1 + u2
        u12 = u1 - u2
        o = r * 8
        t[o] = u10 + u11
        t[o + 4] = u10 - u11
        w1 = (u12 + u13) * _C4
        t[o + 2] = u13 + w1
        t[o + 6] = u13 - w1
        u10 = u4 + u5
        u11 = u5 + u6
        u12 = u6 + u7
        w5 = (u10 - u12) * _C6
        w2 = _C2_MINUS_C6 * u10 + w5
        w4 = _C2_PLUS_C6 * u12 + w5
        w3 = u11 * _C4
        w11 = u7 + w3
        w13 = u7 - w3
        t[o + 5] = w13 + w2
        t[o + 3] = w13 - w2
        t[o + 1] = w11 + w4
        t[o + 7] = w11 - w4
    for c in range(8):
        d0, d1, d2, d3, d4, d5, d6, d7 = t[c:64:8]
        tmp0 = d0 + d7
        tmp7 = d0 - d7
        tmp1 = d1 + d6
        tmp6 = d1 - d6
        tmp2 = d2 + d5
        tmp5 = d2 - d5
        tmp3 = d3 + d4
        tmp4 = d3 - d4
        tmp10 = tmp0 + tmp3
        tmp13 = tmp0 - tmp3
        tmp11 = tmp1 + tmp2
        tmp12 = tmp1 - tmp2
        t[c] = tmp10 + tmp11
        t[c + 32] = tmp10 - tmp11
        z1 = (tmp12 + tmp13) * _C4
        t[c + 16] = tmp13 + z1
        t[c + 48] = tmp13 - z1
        tmp10 = tmp4 + tmp5
        tmp11 = tmp5 + tmp6
        tmp12 = tmp6 + tmp7
        z5 = (tmp10 - tmp12) * _C6
        z2 = _C2_MINUS_C6 * tmp10 + z5
        z4 = _C2_PLUS_C6 * tmp12 + z5
        z3 = tmp11 * _C4
        z11 = tmp7 + z3
        z13 = tmp7 - z3
        t[c + 40] = z13 + z2
        t[c + 24] = z13 - z2
        t[c + 8] = z11 + z4
        t[c + 56] = z11 - z4
    t[0] -= 8192.0  # level shift by 128 of all 64 samples, folded into the DC term
    return [int(t[i] * d + 16384.5) - 16384 for i, d in divisors]


def _block_bits(
    coefs: list[int], prev_dc: int, dc_codes: list[tuple[int, int]], ac_codes: list[tuple[int, int]]
) -> tuple[int, int]:
    """Huffman-code one block; return the bits as ``(value, bit count)``."""
    diff = coefs[0] - prev_dc
    if diff == 0:
        code, length = dc_codes[0]
        acc, n = code, length
    else:
        size = (diff if diff > 0 else -diff).bit_length()
        code, length = dc_codes[size]
        extra = diff if diff > 0 else diff + (1 << size) - 1
        acc = (code << size) | extra
        n = length + size
    end = 63
    while end and not coefs[end]:
        end -= 1
    run = 0
    for k in range(1, end + 1):
        v = coefs[k]
        if not v:
            run += 1
            continue
        while run > 15:
            code, length = ac_codes[0xF0]
            acc = (acc << length) | code
            n += length
            run -= 16
        if v > 0:
            size = v.bit_length()
            extra = v
        else:
            size = (-v).bit_length()
            extra = v + (1 << size) - 1
        code, length = ac_codes[(run << 4) | size]
        acc = (((acc << length) | code) << size) | extra
        n += length + size
        run = 0
    if end < 63:
        code, length = ac_codes[0x00]
        acc = (acc << length) | code
        n += length
    return acc, n


def _pad_plane(rows: list[bytes], width: int, height: int) -> list[bytes]:
    """Extend a plane to ``width`` x ``height`` by repeating its last column and row."""
    out = []
    for row in rows:
        row = bytes(row)
        out.append(row + row[-1:] * (width - len(row)) if len(row) < width else row[:width])
    while len(out) < height:
        out.append(out[-1])
    return out[:height]


def encode_jpeg(
    width: int,
    height: int,
    luma: list[bytes],
    cb: list[bytes],
    cr: list[bytes],
    quality: int = 85,
) -> bytes:
    """
    Encode a YCbCr 4:2:0 picture as a baseline JFIF JPEG.

    :param width: picture width in pixels.
    :param height: picture height in pixels.
    :param luma: ``height`` rows of ``width`` Y bytes.
    :param cb: ``ceil(height / 2)`` rows of ``ceil(width / 2)`` Cb bytes.
    :param cr: ``ceil(height / 2)`` rows of ``ceil(width / 2)`` Cr bytes.
    :param quality: 1..100, as in libjpeg.
    """
    if not 1 <= quality <= 100:
        raise ValueError("quality must be within 1..100")
    luma_q, chroma_q, luma_div, chroma_div = _tables(quality)
    mcu_w, mcu_h = (width + 15) // 16, (height + 15) // 16
    y_plane = _pad_plane(luma, mcu_w * 16, mcu_h * 16)
    cb_plane = _pad_plane(cb, mcu_w * 8, mcu_h * 8)
    cr_plane = _pad_plane(cr, mcu_w * 8, mcu_h * 8)

    out = bytearray()
    acc = 0
    n = 0
    prev_y = prev_cb = prev_cr = 0
    for my in range(mcu_h):
        for mx in range(mcu_w):
            x, y = mx * 16, my * 16
            for bx, by in ((x, y), (x + 8, y), (x, y + 8), (x + 8, y + 8)):
                coefs = _fdct_quantize(y_plane, bx, by, luma_div)
                bits, count = _block_bits(coefs, prev_y, _DC_LUMA, _AC_LUMA)
                prev_y = coefs[0]
                acc = (acc << count) | bits
                n += count
            coefs = _fdct_quantize(cb_plane, mx * 8, my * 8, chroma_div)
            bits, count = _block_bits(coefs, prev_cb, _DC_CHROMA, _AC_CHROMA)
            prev_cb = coefs[0]
            acc = (acc << count) | bits
            n += count
            coefs = _fdct_quantize(cr_plane, mx * 8, my * 8, chroma_div)
            bits, count = _block_bits(coefs, prev_cr, _DC_CHROMA, _AC_CHROMA)
            prev_cr = coefs[0]
            acc = (acc << count) | bits
            n += count
            whole = n >> 3
            n -= whole << 3
            out += (acc >> n).to_bytes(whole, "big").replace(b"\xff", b"\xff\x00")
            acc &= (1 << n) - 1
    if n:
        pad = 8 - n
        out += (((acc << pad) | ((1 << pad) - 1)) & 0xFF).to_bytes(1, "big").replace(b"\xff", b"\xff\x00")

    dqt = bytes([0, *(luma_q[i] for i in ZIGZAG), 1, *(chroma_q[i] for i in ZIGZAG)])
    sof = struct.pack(">BHHB", 8, height, width, 3) + bytes([1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1])
    dht = (
        _dht_segment(0x00, _DC_LUMA_BITS, _DC_VALUES)
        + _dht_segment(0x10, _AC_LUMA_BITS, _AC_LUMA_VALUES)
        + _dht_segment(0x01, _DC_CHROMA_BITS, _DC_VALUES)
        + _dht_segment(0x11, _AC_CHROMA_BITS, _AC_CHROMA_VALUES)
    )
    sos = bytes([3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0])
    jfif = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"

    def segment(marker: int, payload: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload

    return b"".join(
        [
            b"\xff\xd8",
            segment(0xE0, jfif),
            segment(0xDB, dqt),
            segment(0xC0, sof),
            segment(0xC4, dht),
            segment(0xDA, sos),
            bytes(out),
            b"\xff\xd9",
        ]
    )
