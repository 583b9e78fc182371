using System.IO.Compression;

namespace Sd3Mesh.Models.Tokenizers;

/// <summary>The four Unicode normalization forms (UAX #15).</summary>
public enum UnicodeForm { Nfc, Nfd, Nfkc, Nfkd }

/// <summary>
/// Unicode normalization from the Unicode Character Database, as Hugging Face tokenizers does it: the runtime
/// runs with invariant globalization, where string.Normalize returns its input unchanged, so the data ships
/// with us (Data/unicode/normalization.txt.gz). Like tokenizers (unicode-normalization-alignments 0.1), it
/// knows the characters of Unicode 11.0; later ones pass through unchanged. Decompose (canonical, or compatibility
/// for NFKC/NFKD, Hangul syllables by rule), put combining marks in canonical order, then for NFC/NFKC compose
/// canonically. Each output character keeps the origin of the character it came from (a composite: its starter's).
/// </summary>
public static class UnicodeNormalizer
{
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    private static readonly Lazy<Tables> Data = new(Tables.Load);

    public static NormalizedText Normalize(NormalizedText text, UnicodeForm form)
    {
        var d = Data.Value;
        bool compat = form is UnicodeForm.Nfkc or UnicodeForm.Nfkd;
        var chars = new List<int>(text.Length + 8);
        var origins = new List<int>(text.Length + 8);
        for (int i = 0; i < text.Length; i++)
        {
            int origin = text.Origins[i];
            foreach (int c in d.Decompose(text[i], compat)) { chars.Add(c); origins.Add(origin); }
        }
        d.Reorder(chars, origins);
        if (form is UnicodeForm.Nfc or UnicodeForm.Nfkc) d.Compose(chars, origins);
        return new NormalizedText([.. chars], [.. origins]);
    }

    public static string Normalize(string text, UnicodeForm form) => Normalize(NormalizedText.From(text), form).ToString();

    /// <summary>The canonical combining class (0 for starters and for characters after Unicode 11.0).</summary>
    public static int CombiningClass(int c) => Data.Value.Ccc.GetValueOrDefault(c);

    private sealed class Tables
    {
        public readonly Dictionary<int, int> Ccc = new();
        private readonly Dictionary<int, int[]> _canonical = new();
        private readonly Dictionary<int, int[]> _compat = new();
        private readonly Dictionary<long, int> _compose = new();
        private readonly Dictionary<(int, bool), int[]> _full = new();
        private readonly object _lock = new();

        public static Tables Load()
        {
            const string name = "Sd3Mesh.Models.unicode.normalization.txt.gz";
            using var stream = typeof(UnicodeNormalizer).Assembly.GetManifestResourceStream(name)
                ?? throw new InvalidOperationException($"embedded resource {name} is missing from Sd3Mesh.Models");
            using var reader = new StreamReader(new GZipStream(stream, CompressionMode.Decompress));
            var t = new Tables();
            var excluded = new HashSet<int>();
            while (reader.ReadLine() is { } line)
            {
                if (line.Length == 0 || line[0] == '#') continue;
                if (line[0] == 'x') { excluded.Add(Convert.ToInt32(line[1..], 16)); continue; }
                var f = line.Split(';');
                int cp = Convert.ToInt32(f[0], 16);
                int ccc = int.Parse(f[1]);
                if (ccc != 0) t.Ccc[cp] = ccc;
                if (f[2].Length == 0) continue;
                bool isCompat = f[2][0] == '~';
                var seq = f[2].TrimStart('~').Split(' ').Select(h => Convert.ToInt32(h, 16)).ToArray();
                (isCompat ? t._compat : t._canonical)[cp] = seq;
            }
            // Primary composites: canonical pairs, minus exclusions, singletons and non-starter decompositions.
            foreach (var (cp, seq) in t._canonical)
                if (seq.Length == 2 && !excluded.Contains(cp) && t.Ccc.GetValueOrDefault(cp) == 0 && t.Ccc.GetValueOrDefault(seq[0]) == 0)
                    t._compose[Pair(seq[0], seq[1])] = cp;
            return t;
        }

        private static long Pair(int a, int b) => ((long)a << 21) | (uint)b;

        public int[] Decompose(int c, bool compat)
        {
            if (c >= SBase && c < SBase + SCount)
            {
                int s = c - SBase, l = LBase + s / NCount, v = VBase + s % NCount / TCount, t = TBase + s % TCount;
                return t == TBase ? [l, v] : [l, v, t];
            }
            if (!_canonical.ContainsKey(c) && !(compat && _compat.ContainsKey(c))) return [c];
            lock (_lock)
            {
                if (_full.TryGetValue((c, compat), out var cached)) return cached;
            }
            var one = _canonical.TryGetValue(c, out var canon) ? canon : _compat[c];
            var full = one.SelectMany(x => Decompose(x, compat)).ToArray();
            lock (_lock) _full[(c, compat)] = full;
            return full;
        }

        /// <summary>Canonical ordering: stable sort of each run of non-starters by combining class.</summary>
        public void Reorder(List<int> chars, List<int> origins)
        {
            for (int i = 0; i < chars.Count; i++)
            {
                if (Ccc.GetValueOrDefault(chars[i]) == 0) continue;
                int end = i;
                while (end < chars.Count && Ccc.GetValueOrDefault(chars[end]) != 0) end++;
                if (end - i > 1)
                {
                    var run = Enumerable.Range(i, end - i).Select(k => (C: chars[k], O: origins[k])).OrderBy(x => Ccc[x.C]).ToArray();
                    for (int k = 0; k < run.Length; k++) { chars[i + k] = run[k].C; origins[i + k] = run[k].O; }
                }
                i = end;
            }
        }

        /// <summary>Canonical composition (the Unicode standard's sample algorithm), Hangul by rule.</summary>
        public void Compose(List<int> chars, List<int> origins)
        {
            if (chars.Count == 0) return;
            int starterPos = 0, starter = chars[0];
            int lastClass = Ccc.GetValueOrDefault(starter) == 0 ? 0 : 256; // a leading non-starter blocks everything
            int write = 1;
            for (int read = 1; read < chars.Count; read++)
            {
                int c = chars[read];
                int cls = Ccc.GetValueOrDefault(c);
                int composite = ComposePair(starter, c);
                if (composite >= 0 && (lastClass < cls || lastClass == 0))
                {
                    chars[starterPos] = composite;
                    starter = composite;
                    continue;
                }
                if (cls == 0) { starterPos = write; starter = c; }
                lastClass = cls;
                chars[write] = c;
                origins[write] = origins[read];
                write++;
            }
            chars.RemoveRange(write, chars.Count - write);
            origins.RemoveRange(write, origins.Count - write);
        }

        private int ComposePair(int a, int b)
        {
            if (a >= LBase && a < LBase + LCount && b >= VBase && b < VBase + VCount)
                return SBase + ((a - LBase) * VCount + (b - VBase)) * TCount;
            if (a >= SBase && a < SBase + SCount && (a - SBase) % TCount == 0 && b > TBase && b < TBase + TCount)
                return a + (b - TBase);
            return _compose.TryGetValue(Pair(a, b), out int c) ? c : -1;
        }
    }
}
