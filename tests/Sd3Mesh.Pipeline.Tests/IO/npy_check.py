# Reads a .npy file with the standard library only (struct): prints its header fields and values as JSON.
import ast, json, struct, sys
data = open(sys.argv[1], "rb").read()
assert data[:6] == b"\x93NUMPY", "bad magic"
major = data[6]
if major == 1:
    (hlen,) = struct.unpack("<H", data[8:10]); start = 10
else:
    (hlen,) = struct.unpack("<I", data[8:12]); start = 12
header = ast.literal_eval(data[start:start + hlen].decode("latin-1"))
assert (start + hlen) % 64 == 0, "data not 64-byte aligned"
assert data[start + hlen - 1:start + hlen] == b"\n"
n = 1
for d in header["shape"]: n *= d
values = struct.unpack("<%df" % n, data[start + hlen:start + hlen + 4 * n])
print(json.dumps({"version": major, "descr": header["descr"], "fortran_order": header["fortran_order"],
                  "shape": list(header["shape"]), "values": values}))
