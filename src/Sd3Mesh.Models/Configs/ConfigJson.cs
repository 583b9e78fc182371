using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sd3Mesh.Models.Configs;

/// <summary>Reads and writes the config.json files of diffusers and transformers (snake_case fields).</summary>
public static class ConfigJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Reads <paramref name="path"/>; a missing or malformed file is a <see cref="ModelFormatException"/> naming it.</summary>
    public static T Read<T>(string path)
    {
        if (!File.Exists(path)) throw new ModelFormatException($"{path} is missing");
        try
        {
            return Parse<T>(File.ReadAllText(path), path);
        }
        catch (ModelFormatException) { throw; }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or NotSupportedException)
        {
            throw new ModelFormatException($"{path}: {ex.Message}", ex);
        }
    }

    public static T Parse<T>(string json, string source = "config") =>
        JsonSerializer.Deserialize<T>(json, Options) ?? throw new ModelFormatException($"{source}: the JSON is null");

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);

    public static void Write<T>(string path, T value)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path, Serialize(value) + "\n");
    }

    /// <summary>Throws a <see cref="ModelFormatException"/> naming the file and field unless <paramref name="ok"/>.</summary>
    internal static void Require(bool ok, string source, string field, string problem)
    {
        if (!ok) throw new ModelFormatException($"{source}: {field} {problem}");
    }
}
