using System.Text;

namespace Sd3Mesh.Rpc;

/// <summary>
/// grpc-message encoding: UTF-8, then every byte outside 0x20..0x7E and '%' as %XX. Decoding never
/// fails: broken escapes are kept as they are.
/// </summary>
public static class PercentEncoding
{
    public static string Encode(string text)
    {
        bool plain = true;
        foreach (var c in text) if (c is < ' ' or > '~' or '%') { plain = false; break; }
        if (plain) return text;

        var sb = new StringBuilder(text.Length + 16);
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            if (b is >= 0x20 and <= 0x7E && b != (byte)'%') sb.Append((char)b);
            else sb.Append('%').Append(b.ToString("X2"));
        }
        return sb.ToString();
    }

    public static string Decode(string text)
    {
        if (!text.Contains('%')) return text;
        var bytes = new List<byte>(text.Length);
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '%' && i + 2 < text.Length &&
                Uri.IsHexDigit(text[i + 1]) && Uri.IsHexDigit(text[i + 2]))
            {
                bytes.Add((byte)Convert.ToInt32(text.Substring(i + 1, 2), 16));
                i += 2;
            }
            else if (c <= 0x7F) bytes.Add((byte)c);
            else bytes.AddRange(Encoding.UTF8.GetBytes(c.ToString()));
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }
}
