namespace Sd3Mesh.Models.Tokenizers;

/// <summary>
/// GPT-2/CLIP's reversible map from the 256 byte values to printable Unicode characters (OpenAI's
/// <c>bytes_to_unicode</c>): printable Latin-1 bytes map to themselves, the other 68 bytes (controls, space,
/// NBSP, soft hyphen) to U+0100 onwards, so byte-level BPE never sees whitespace or control characters.
/// </summary>
public static class ByteLevelAlphabet
{
    private static readonly (byte[] Order, char[] ByteToChar, Dictionary<char, byte> CharToByte) Tables = Build();

    /// <summary>The bytes in OpenAI's order: '!'..'~', '¡'..'¬', '®'..'ÿ', then the remaining bytes ascending.</summary>
    public static ReadOnlySpan<byte> Order => Tables.Order;

    public static char ToChar(byte b) => Tables.ByteToChar[b];

    public static bool TryToByte(char c, out byte b) => Tables.CharToByte.TryGetValue(c, out b);

    /// <summary>The byte-level form of a UTF-8 string (one char per byte).</summary>
    public static string Encode(string text)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(text);
        var chars = new char[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) chars[i] = Tables.ByteToChar[bytes[i]];
        return new string(chars);
    }

    /// <summary>
    /// The bytes a byte-level string stands for, decoded as UTF-8 (invalid sequences become U+FFFD, as
    /// Python's errors="replace" does). Characters outside the alphabet are kept as their own UTF-8.
    /// </summary>
    public static string Decode(ReadOnlySpan<char> byteLevel)
    {
        var bytes = new List<byte>(byteLevel.Length);
        foreach (char c in byteLevel)
        {
            if (Tables.CharToByte.TryGetValue(c, out byte b)) bytes.Add(b);
            else bytes.AddRange(System.Text.Encoding.UTF8.GetBytes(c.ToString()));
        }
        return System.Text.Encoding.UTF8.GetString(bytes.ToArray());
    }

    private static (byte[], char[], Dictionary<char, byte>) Build()
    {
        var order = new List<byte>();
        var chars = new List<char>();
        for (int b = '!'; b <= '~'; b++) order.Add((byte)b);
        for (int b = 0xA1; b <= 0xAC; b++) order.Add((byte)b);
        for (int b = 0xAE; b <= 0xFF; b++) order.Add((byte)b);
        foreach (var b in order) chars.Add((char)b);
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            if (order.Contains((byte)b)) continue;
            order.Add((byte)b);
            chars.Add((char)(256 + n++));
        }
        var byteToChar = new char[256];
        var charToByte = new Dictionary<char, byte>(256);
        for (int i = 0; i < 256; i++)
        {
            byteToChar[order[i]] = chars[i];
            charToByte[chars[i]] = order[i];
        }
        return (order.ToArray(), byteToChar, charToByte);
    }
}
