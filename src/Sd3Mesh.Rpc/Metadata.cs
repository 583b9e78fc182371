using System.Collections;

namespace Sd3Mesh.Rpc;

/// <summary>
/// Custom metadata of a call (request headers, response headers, trailers): an ordered multi-map.
/// Keys are lower-case [0-9a-z_.-]; a key ending in "-bin" holds bytes (base64 on the wire, emitted
/// without padding, accepted with or without), any other key holds printable ASCII.
/// </summary>
public sealed class Metadata : IEnumerable<Metadata.Entry>
{
    private readonly List<Entry> _entries = [];

    public sealed class Entry
    {
        private readonly string? _value;
        private readonly byte[]? _bytes;

        internal Entry(string key, string? value, byte[]? bytes)
        {
            Key = key;
            _value = value;
            _bytes = bytes;
        }

        public string Key { get; }
        public bool IsBinary => _bytes is not null;
        /// <summary>The ASCII value; throws for a -bin entry.</summary>
        public string Value => _value ?? throw new InvalidOperationException($"metadata '{Key}' is binary: read ValueBytes");
        /// <summary>The bytes of a -bin entry; throws for an ASCII entry.</summary>
        public byte[] ValueBytes => _bytes ?? throw new InvalidOperationException($"metadata '{Key}' is ASCII: read Value");

        public override string ToString() => IsBinary ? $"{Key}: <{_bytes!.Length} bytes>" : $"{Key}: {_value}";
    }

    public int Count => _entries.Count;
    public Entry this[int index] => _entries[index];

    public Metadata Add(string key, string value)
    {
        key = NormalizeKey(key);
        if (IsBinaryKey(key))
            throw new ArgumentException($"metadata key '{key}' ends in -bin and needs a byte[] value", nameof(value));
        ArgumentNullException.ThrowIfNull(value);
        foreach (var c in value)
            if (c is < ' ' or > '~')
                throw new ArgumentException(
                    $"metadata '{key}' has a character outside printable ASCII (0x20..0x7E): use a -bin key for other data",
                    nameof(value));
        _entries.Add(new Entry(key, value, null));
        return this;
    }

    public Metadata Add(string key, byte[] value)
    {
        key = NormalizeKey(key);
        if (!IsBinaryKey(key))
            throw new ArgumentException($"metadata key '{key}' holds bytes and must end in -bin", nameof(key));
        ArgumentNullException.ThrowIfNull(value);
        _entries.Add(new Entry(key, null, value));
        return this;
    }

    /// <summary>The last ASCII value of <paramref name="key"/>, or null.</summary>
    public string? GetValue(string key)
    {
        for (int i = _entries.Count - 1; i >= 0; i--)
            if (_entries[i].Key == key && !_entries[i].IsBinary) return _entries[i].Value;
        return null;
    }

    /// <summary>The last bytes of a -bin <paramref name="key"/>, or null.</summary>
    public byte[]? GetValueBytes(string key)
    {
        for (int i = _entries.Count - 1; i >= 0; i--)
            if (_entries[i].Key == key && _entries[i].IsBinary) return _entries[i].ValueBytes;
        return null;
    }

    public IEnumerable<Entry> GetAll(string key) => _entries.Where(e => e.Key == key);

    public IEnumerator<Entry> GetEnumerator() => _entries.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public static bool IsBinaryKey(string key) => key.EndsWith(GrpcProtocol.BinarySuffix, StringComparison.Ordinal);

    private static string NormalizeKey(string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        key = key.ToLowerInvariant();
        foreach (var c in key)
            if (!(c is >= '0' and <= '9' or >= 'a' and <= 'z' or '_' or '-' or '.'))
                throw new ArgumentException($"metadata key '{key}' has '{c}': keys use only 0-9 a-z _ - .", nameof(key));
        return key;
    }

    // --- wire form -------------------------------------------------------------------------------

    /// <summary>Base64 without padding, as the spec asks senders to emit.</summary>
    internal static string EncodeBinary(byte[] value) => Convert.ToBase64String(value).TrimEnd('=');

    /// <summary>Base64 with or without padding.</summary>
    internal static byte[] DecodeBinary(string text)
    {
        text = text.Trim();
        int pad = (4 - text.Length % 4) % 4;
        if (pad == 3) throw new FormatException("base64 of impossible length");
        return Convert.FromBase64String(pad == 0 ? text : text + new string('=', pad));
    }

    /// <summary>
    /// Adds one received header (name and value as sent), skipping reserved headers. A -bin value may
    /// hold several comma-joined base64 values; a value that is not valid base64 is dropped, as a
    /// received invalid value must not fail the call.
    /// </summary>
    internal void AddFromWire(string name, string value, bool keepStatusDetails = false)
    {
        name = name.ToLowerInvariant();
        if (GrpcProtocol.IsReservedHeader(name) && !(keepStatusDetails && name == GrpcProtocol.StatusDetailsHeader))
            return;
        if (IsBinaryKey(name))
        {
            foreach (var part in value.Split(','))
            {
                try { _entries.Add(new Entry(name, null, DecodeBinary(part))); }
                catch (FormatException) { }
            }
        }
        else
        {
            _entries.Add(new Entry(name, value.Trim(), null));
        }
    }

    /// <summary>The (name, value) pairs to send, reserved keys left out (grpc-status-details-bin kept if asked).</summary>
    internal IEnumerable<KeyValuePair<string, string>> ToWire(bool allowStatusDetails = false)
    {
        foreach (var e in _entries)
        {
            if (GrpcProtocol.IsReservedHeader(e.Key) && !(allowStatusDetails && e.Key == GrpcProtocol.StatusDetailsHeader))
                continue;
            yield return new(e.Key, e.IsBinary ? EncodeBinary(e.ValueBytes) : e.Value);
        }
    }
}
