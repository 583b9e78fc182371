using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Sd3Mesh.Onnx;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// Options whose values are parsed into their types on the command line, each with one clear error naming
/// the option (a parse error: exit 2 before any work).
/// </summary>
internal static class CliOptions
{
    /// <summary>A whole number 0, 1, 2, ... (unset: null, the request's default).</summary>
    public static Option<uint?> WholeNumber(string name, string description) => new(name)
    {
        Description = description,
        CustomParser = result => Parse<uint>(result, "a whole number (0, 1, 2, ...)",
            text => uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : null),
    };

    /// <summary>A decimal number such as 7 or 0.6 (unset: null, the request's default).</summary>
    public static Option<double?> Number(string name, string description) => new(name)
    {
        Description = description,
        CustomParser = result => Parse<double>(result, "a number (e.g. 7 or 0.6)",
            text => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value) ? value : null),
    };

    /// <summary>--token-file: where a client reads a server's API token (else $SD3MESH_TOKEN).</summary>
    public static Option<FileInfo?> TokenFile(bool recursive = false) => new("--token-file")
    {
        Description = "Read the server's API token from this file (default: $SD3MESH_TOKEN; a server that generated one keeps it in its data folder's api-token)",
        Recursive = recursive,
    };

    /// <summary>A device string (cpu, cpu:N, cuda:N), parsed once into a <see cref="Device"/>.</summary>
    public static Option<Device?> Device(string name, string description) => new(name)
    {
        Description = description,
        CustomParser = result =>
        {
            var text = result.Tokens.Single().Value;
            if (Onnx.Device.TryParse(text, out var device)) return device;
            result.AddError($"{OptionName(result)}: unknown device '{text}': expected {Onnx.Device.AcceptedForms}");
            return null;
        },
    };

    private static T? Parse<T>(ArgumentResult result, string expected, Func<string, T?> parse) where T : struct
    {
        var text = result.Tokens.Single().Value;
        if (parse(text) is { } value) return value;
        result.AddError($"{OptionName(result)}: '{text}' is not {expected}");
        return null;
    }

    private static string OptionName(ArgumentResult result) => (result.Parent as OptionResult)?.Option.Name ?? result.Argument.Name;
}
