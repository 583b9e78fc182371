# Writes PNG variants for the decoder tests with the standard library only (zlib, struct):
# 8-bit grayscale, grayscale+alpha, RGB, RGBA, palette (each row using filter type y % 5), and the
# unsupported 16-bit RGB and Adam7-interlaced RGB. Pixel (x, y) has colour ((x*37+y*11)%256, (x*5+y*67)%256, (x*y+3)%256);
# grayscale images use the first component. Prints the expected RGB pixels of the supported files.
import base64, json, os, struct, sys, zlib

out = sys.argv[1]
W, H = 13, 9

def rgb(x, y):
    return ((x * 37 + y * 11) % 256, (x * 5 + y * 67) % 256, (x * y + 3) % 256)

def chunk(t, body):
    return struct.pack(">I", len(body)) + t + body + struct.pack(">I", zlib.crc32(t + body) & 0xFFFFFFFF)

def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)

def filtered(rows, bpp):
    raw, prev = b"", bytes(len(rows[0]))
    for y, row in enumerate(rows):
        f = y % 5
        o = bytearray()
        for i in range(len(row)):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            p = [0, a, b, (a + b) // 2, paeth(a, b, c)][f]
            o.append((row[i] - p) & 0xFF)
        raw += bytes([f]) + bytes(o)
        prev = row
    return raw

def png(name, color, depth, rows, bpp, extra=b"", interlace=0):
    ihdr = struct.pack(">IIBBBBB", W, H, depth, color, 0, 0, interlace)
    body = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra
    body += chunk(b"tEXt", b"prompt\0made by png_make.py")
    body += chunk(b"IDAT", zlib.compress(filtered(rows, bpp))) + chunk(b"IEND", b"")
    open(os.path.join(out, name), "wb").write(body)

px = [[rgb(x, y) for x in range(W)] for y in range(H)]
png("rgb.png", 2, 8, [bytes(c for p in r for c in p) for r in px], 3)
png("rgba.png", 6, 8, [bytes(c for p in r for c in p + (200,)) for r in px], 4)
png("gray.png", 0, 8, [bytes(p[0] for p in r) for r in px], 1)
png("gray_alpha.png", 4, 8, [bytes(v for p in r for v in (p[0], 99)) for r in px], 2)
palette = sorted({p for r in px for p in r})[:256]
index = {p: i for i, p in enumerate(palette)}
pal_px = [[p if p in index else palette[0] for p in r] for r in px]
png("palette.png", 3, 8, [bytes(index[p] for p in r) for r in pal_px], 1, chunk(b"PLTE", bytes(c for p in palette for c in p)))
png("rgb16.png", 2, 16, [bytes(b for p in r for c in p for b in (c, c)) for r in px], 6)
png("interlaced.png", 2, 8, [bytes(c for p in r for c in p) for r in px], 3, interlace=1)

flat = lambda rows: base64.b64encode(bytes(c for r in rows for p in r for c in p)).decode()
gray = [[(p[0],) * 3 for p in r] for r in px]
print(json.dumps({"rgb.png": flat(px), "rgba.png": flat(px), "gray.png": flat(gray), "gray_alpha.png": flat(gray),
                  "palette.png": flat(pal_px), "width": W, "height": H}))
