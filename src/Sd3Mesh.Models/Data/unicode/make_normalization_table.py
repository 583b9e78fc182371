# Writes normalization.txt.gz, the Unicode normalization data of Sd3Mesh.Models.Tokenizers.UnicodeNormalizer:
# canonical combining classes, decomposition mappings and composition exclusions of the characters assigned in
# Unicode 11.0 or earlier. Hugging Face tokenizers normalizes with Unicode 11.0's tables
# (unicode-normalization-alignments 0.1), so later characters are left as they are, as it leaves them.
# Input: the Unicode Character Database (Debian's unicode-data package: /usr/share/unicode).
#   apt-get download unicode-data && dpkg -x unicode-data_*.deb ucd
#   python3 make_normalization_table.py ucd/usr/share/unicode
import gzip, os, sys

ucd = sys.argv[1]
MAX_AGE = (11, 0)

ages = {}
for line in open(os.path.join(ucd, "DerivedAge.txt"), encoding="utf-8"):
    line = line.split("#")[0].strip()
    if not line:
        continue
    rng, age = [x.strip() for x in line.split(";")]
    lo, hi = (rng.split("..") + [rng])[:2]
    for cp in range(int(lo, 16), int(hi, 16) + 1):
        ages[cp] = tuple(int(x) for x in age.split("."))

def assigned(cp):
    return cp in ages and ages[cp] <= MAX_AGE

rows = []
for line in open(os.path.join(ucd, "UnicodeData.txt"), encoding="utf-8"):
    f = line.rstrip("\n").split(";")
    cp, ccc, dec = int(f[0], 16), int(f[3]), f[5]
    if not assigned(cp) or (ccc == 0 and not dec):
        continue
    if dec.startswith("<"):
        dec = "~" + dec.split(">", 1)[1].strip()  # compatibility mapping; the tag does not matter
    rows.append(f"{cp:X};{ccc};{dec}")

exclusions = []
for line in open(os.path.join(ucd, "CompositionExclusions.txt"), encoding="utf-8"):
    line = line.split("#")[0].strip()
    if line and assigned(int(line, 16)):
        exclusions.append(f"x{line}")

version = open(os.path.join(ucd, "DerivedAge.txt"), encoding="utf-8").readline().strip("# \n")
text = f"# Unicode {MAX_AGE[0]}.{MAX_AGE[1]} normalization data from {version} (make_normalization_table.py)\n"
text += "\n".join(rows + exclusions) + "\n"
with gzip.GzipFile(os.path.join(os.path.dirname(os.path.abspath(__file__)), "normalization.txt.gz"), "wb", mtime=0) as g:
    g.write(text.encode("utf-8"))
print(len(rows), "rows,", len(exclusions), "exclusions")
