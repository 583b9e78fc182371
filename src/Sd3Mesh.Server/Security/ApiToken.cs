using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace Sd3Mesh.Server.Security;

/// <summary>
/// The bearer token the public API (and the web endpoint) require: configured (<see cref="Variable"/>), or, when the
/// server listens beyond loopback and none is configured, generated once into its data folder (`serve --data`, a
/// cluster config's <c>store.data</c>) as <see cref="FileName"/>, readable by its owner only, and read from there on
/// later starts. <see cref="ToString"/> never shows the value.
/// </summary>
public sealed class ApiToken
{
    public const string Variable = "SD3MESH_TOKEN";
    public const string FileName = "api-token";
    public const int MinLength = 16, MaxLength = 256;

    private readonly byte[] _hash;

    private ApiToken(string value, string source, bool generated)
    {
        Value = value;
        Source = source;
        Generated = generated;
        _hash = SHA256.HashData(Encoding.UTF8.GetBytes(value));
        CookieValue = Convert.ToBase64String(HMACSHA256.HashData(Encoding.UTF8.GetBytes(value), "sd3mesh dashboard"u8))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    /// <summary>
    /// What the dashboard's sign-in cookie holds (a browser cannot send a bearer header on its own): derived from the
    /// token, so the cookie is not the token, and opens the web endpoint only.
    /// </summary>
    public string CookieValue { get; }

    /// <summary>Whether <paramref name="presented"/> is <see cref="CookieValue"/> (compared in constant time).</summary>
    public bool MatchesCookie(string presented) =>
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(CookieValue), Encoding.UTF8.GetBytes(presented));

    /// <summary>The token itself: for the one line that shows a generated token, and for clients. Never log it.</summary>
    public string Value { get; }
    /// <summary>Where it came from: the variable's name or the file's path.</summary>
    public string Source { get; }
    /// <summary>Created by this start (show it once).</summary>
    public bool Generated { get; }

    public override string ToString() => $"API token from {Source}";

    /// <summary>Whether <paramref name="presented"/> is the token (compared in constant time).</summary>
    public bool Matches(string presented) =>
        CryptographicOperations.FixedTimeEquals(_hash, SHA256.HashData(Encoding.UTF8.GetBytes(presented)));

    /// <summary>
    /// The token a server listening on <paramref name="endpoints"/> requires: the configured one (whatever the endpoints),
    /// else, when any endpoint is beyond loopback, the data folder's (created if missing); else none.
    /// </summary>
    /// <param name="configured">the value of <see cref="Variable"/> (null or empty: not configured)</param>
    /// <exception cref="ArgumentException">a configured token that is too short, too long or not one printable word</exception>
    public static ApiToken? Resolve(IEnumerable<IPEndPoint> endpoints, string? configured, string dataFolder)
    {
        if (!string.IsNullOrEmpty(configured)) return new ApiToken(Check(configured, Variable), Variable, generated: false);
        if (endpoints.All(e => IPAddress.IsLoopback(e.Address))) return null;
        return FromFolder(dataFolder);
    }

    /// <summary>The data folder's token, created (random, 32 bytes as base64url) if the folder has none.</summary>
    public static ApiToken FromFolder(string dataFolder)
    {
        var path = Path.Combine(dataFolder, FileName);
        if (File.Exists(path)) return new ApiToken(Check(File.ReadAllText(path).Trim(), path), path, generated: false);
        Directory.CreateDirectory(dataFolder);
        var value = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        // Created with owner-only permissions before any byte is written, and never overwritten (another server may race).
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        try
        {
            using var file = new FileStream(path, options);
            file.Write(Encoding.ASCII.GetBytes(value + "\n"));
        }
        catch (IOException) when (File.Exists(path))
        {
            return FromFolder(dataFolder);
        }
        return new ApiToken(value, path, generated: true);
    }

    private static string Check(string value, string source)
    {
        if (value.Length is < MinLength or > MaxLength || value.Any(c => c is < '!' or > '~'))
            throw new ArgumentException($"{source}: an API token is {MinLength}..{MaxLength} printable ASCII characters without spaces " +
                                        $"(this one has {value.Length} characters{(value.Any(c => c is < '!' or > '~') ? ", some not printable or spaces" : "")})");
        return value;
    }
}
