using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Sd3Mesh.Rpc;
using Spectre.Console;

namespace Sd3Mesh.Cli.Commands;

/// <summary>Channels to an sd3mesh server (the --server option of generate and jobs).</summary>
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

    /// <summary>A channel to <paramref name="server"/>; null (said on <paramref name="console"/>) when the certificate to trust is unusable.</summary>
    public static GrpcChannel? Open(Uri server, IAnsiConsole console)
    {
        var options = new GrpcChannelOptions();
        if (server.Scheme == "https" && Environment.GetEnvironmentVariable(TrustedCertificateVariable) is { Length: > 0 } pem)
        {
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
            options.ServerCertificateValidation = (_, certificate, _, errors) =>
                errors == System.Net.Security.SslPolicyErrors.None
                || certificate is not null && certificate.GetCertHashString() == trusted.GetCertHashString();
        }
        return new GrpcChannel(server, options);
    }
}
