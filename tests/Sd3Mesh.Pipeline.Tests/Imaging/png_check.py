# Independent PNG reader for the tests (standard library only): checks the signature and every chunk's
# CRC, decompresses IDAT, undoes the five filter types and prints the pixels, the filters used and the
# text chunks as JSON. Run with /usr/bin/python3 png_check.py FILE.
import base64, json, struct, sys, zlib

data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "bad signature"
pos, chunks, idat, text = 8, [], b"", {}
while pos < len(data):
    length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
    assert zlib.crc32(ctype + body) & 0xFFFFFFFF == crc, "bad CRC in " + ctype.decode()
    chunks.append(ctype.decode())
    if ctype == b"IHDR":
        width, height, depth, color, comp, filt, interlace = struct.unpack(">IIBBBBB", body)
    elif ctype == b"IDAT":
        idat += body
    elif ctype == b"tEXt":
        k, v = body.split(b"\0", 1)
        text[k.decode("latin-1")] = v.decode("latin-1")
    elif ctype == b"iTXt":
        k, rest = body.split(b"\0", 1)
        flag, method = rest[0], rest[1]
        lang, rest = rest[2:].split(b"\0", 1)
        translated, value = rest.split(b"\0", 1)
        text[k.decode("latin-1")] = (zlib.decompress(value) if flag else value).decode("utf-8")
    pos += 12 + length
assert chunks[0] == "IHDR" and chunks[-1] == "IEND"
assert (depth, color, comp, filt, interlace) == (8, 2, 0, 0, 0)
raw = zlib.decompress(idat)
stride, bpp = width * 3, 3
assert len(raw) == (stride + 1) * height
out, prev, filters = bytearray(), bytearray(stride), []
for y in range(height):
    f = raw[y * (stride + 1)]
    filters.append(f)
    row = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = row[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if f == 0: p = 0
        elif f == 1: p = a
        elif f == 2: p = b
        elif f == 3: p = (a + b) // 2
        elif f == 4:
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
        else: raise ValueError("filter %d" % f)
        row[i] = (row[i] + p) & 0xFF
    out += row
    prev = row
print(json.dumps({"width": width, "height": height, "chunks": chunks, "filters": filters, "text": text,
                  "pixels": base64.b64encode(bytes(out)).decode()}))
