namespace Sd3Mesh.Pipeline.Imaging;

/// <summary>
/// Names outputs sd3_generated_001.png, sd3_generated_002.png, ... in a folder without ever overwriting:
/// the name is reserved with an exclusive create (so concurrent writers get different numbers), the
/// content is written to a temporary file beside it and renamed over the reservation, so no reader sees
/// a half-written file.
/// </summary>
public static class GeneratedFiles
{
    public const string Prefix = "sd3_generated_";

    public static string Write(string directory, ReadOnlySpan<byte> content, string extension = ".png")
    {
        Directory.CreateDirectory(directory);
        int next = NextNumber(directory, extension);
        for (int attempt = 0; attempt < 100_000; attempt++, next++)
        {
            var path = Path.Combine(directory, $"{Prefix}{next:D3}{extension}");
            try
            {
                using (new FileStream(path, FileMode.CreateNew, FileAccess.Write)) { }
            }
            catch (IOException) when (File.Exists(path))
            {
                continue; // taken meanwhile: try the next number
            }
            var temp = path + ".tmp-" + Environment.ProcessId + "-" + Guid.NewGuid().ToString("N")[..8];
            try
            {
                using (var f = new FileStream(temp, FileMode.CreateNew, FileAccess.Write)) f.Write(content);
                File.Move(temp, path, overwrite: true);
            }
            catch
            {
                File.Delete(temp);
                File.Delete(path);
                throw;
            }
            return path;
        }
        throw new IOException($"no free {Prefix}NNN{extension} name in {directory}");
    }

    private static int NextNumber(string directory, string extension)
    {
        int max = 0;
        foreach (var file in Directory.EnumerateFiles(directory, Prefix + "*" + extension))
        {
            var name = Path.GetFileNameWithoutExtension(file)[Prefix.Length..];
            if (int.TryParse(name, System.Globalization.NumberStyles.None, null, out int n) && n > max) max = n;
        }
        return max + 1;
    }
}
