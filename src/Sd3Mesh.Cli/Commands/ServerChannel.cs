using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Net.Client;
using Sd3Mesh.Server.Grpc;
using Spectre.Console;

namespace Sd3Mesh.Cli.Commands;

/// <summary>Channels to an sd3mesh server (the --server option of generate and jobs), and what their failures tell a user.</summary>
public static class ServerChannel
{
    public const string DefaultAddress = "http://127.0.0.1:50051";

    /// <summary>PEM file of a server certificate to trust for https (a self-signed `serve --tls-cert`).</summary>
    public const string TrustedCertificateVariable = "SD3MESH_SERVER_CERT";

    public static Uri Parse(string address)
    {
        if (Uri.TryCreate(address, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.Port > 0)
            return uri;
        throw new ArgumentException($"--server: '{address}' is not a server URL like {DefaultAddress} (or https://HOST:PORT)");
    }

    /// <summary>
    /// <see cref="Open(Uri, IAnsiConsole, FileInfo?)"/> for an address as typed (<c>--server</c>); null, said on
    /// <paramref name="console"/>, when it is not a server URL either.
    /// </summary>
    public static GrpcChannel? Open(string address, IAnsiConsole console, FileInfo? tokenFile, out Uri server)
    {
        try
        {
            server = Parse(address);
        }
        catch (ArgumentException e)
        {
            console.MarkupLine($"[red]{Markup.Escape(e.Message)}[/]");
            server = null!;
            return null;
        }
        return Open(server, console, tokenFile);
    }

    /// <summary>
    /// A channel to <paramref name="server"/> that sends the API token of <paramref name="tokenFile"/> (else of
    /// $SD3MESH_TOKEN, else none); null (said on <paramref name="console"/>) when the token file or the certificate to
    /// trust is unusable.
    /// </summary>
    public static GrpcChannel? Open(Uri server, IAnsiConsole console, FileInfo? tokenFile = null)
    {
        string? token;
        try
        {
            token = Token(tokenFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            console.MarkupLine($"[red]{Markup.Escape(e.Message)}[/]");
            return null;
        }
        if (server.Scheme != "https" || Environment.GetEnvironmentVariable(TrustedCertificateVariable) is not { Length: > 0 } pem)
            return GrpcChannels.Create(server, bearerToken: token);
        X509Certificate2 trusted;
        try
        {
            trusted = X509Certificate2.CreateFromPemFile(pem);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            console.MarkupLine($"[red]{Markup.Escape($"{TrustedCertificateVariable}: '{pem}' is not a readable PEM certificate: {e.Message}")}[/]");
            return null;
        }
        return GrpcChannels.Create(server, (_, certificate, _, errors) =>
            errors == System.Net.Security.SslPolicyErrors.None
            || certificate is not null && certificate.GetCertHashString() == trusted.GetCertHashString(), bearerToken: token);
    }

    /// <summary>The API token to send: the file's first line, else $SD3MESH_TOKEN, else none.</summary>
    private static string? Token(FileInfo? tokenFile)
    {
        if (tokenFile is null)
            return Environment.GetEnvironmentVariable(Server.Security.ApiToken.Variable) is { Length: > 0 } variable ? variable.Trim() : null;
        if (!tokenFile.Exists) throw new ArgumentException($"--token-file: '{tokenFile.FullName}' does not exist");
        var token = File.ReadLines(tokenFile.FullName).FirstOrDefault()?.Trim();
        return string.IsNullOrEmpty(token) ? throw new ArgumentException($"--token-file: '{tokenFile.FullName}' is empty") : token;
    }

    /// <summary>A one-line explanation of a failed call for the terminal.</summary>
    public static string Describe(RpcException e, Uri server) => e.StatusCode switch
    {
        StatusCode.InvalidArgument => $"the server refused the request: {e.Status.Detail}",
        StatusCode.Unavailable => $"cannot reach the server at {server}: {Cause(e)}",
        StatusCode.Unauthenticated => $"the server at {server} refused the call: {e.Status.Detail}",
        _ => e.Status.Describe(),
    };

    /// <summary>The innermost reason for an unavailable server ("Connection refused"), else the status detail.</summary>
    private static string Cause(RpcException e)
    {
        var inner = e.Status.DebugException;
        while (inner?.InnerException is not null) inner = inner.InnerException;
        return inner?.Message is { Length: > 0 } message ? message : e.Status.Detail;
    }
}
