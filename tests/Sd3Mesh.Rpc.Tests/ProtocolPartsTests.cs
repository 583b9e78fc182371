namespace Sd3Mesh.Rpc.Tests;

public class ProtocolPartsTests
{
    [Theory]
    [InlineData("1H", 36_000_000_000L)]
    [InlineData("2M", 1_200_000_000L)]
    [InlineData("3S", 30_000_000L)]
    [InlineData("250m", 2_500_000L)]
    [InlineData("1500u", 15_000L)]
    [InlineData("100n", 1L)]
    [InlineData("1n", 1L)]          // rounded up to one 100 ns tick, never to zero
    [InlineData("99999999S", 999_999_990_000_000L)]
    public void Grpc_timeout_parses_every_unit(string text, long ticks)
    {
        Assert.True(GrpcTimeout.TryParse(text, out var timeout));
        Assert.Equal(ticks, timeout.Ticks);
    }

    [Theory]
    [InlineData("")]
    [InlineData("5")]
    [InlineData("S")]
    [InlineData("123456789S")] // 9 digits
    [InlineData("10x")]
    [InlineData("-1S")]
    [InlineData("1.5S")]
    public void Grpc_timeout_rejects_malformed_values(string text) => Assert.False(GrpcTimeout.TryParse(text, out _));

    [Theory]
    [InlineData(1L, "100n")]
    [InlineData(2_500_000L, "250000u")]
    [InlineData(36_000_000_000L, "3600000m")]
    [InlineData(10_000_000_000_000L, "1000000S")]
    public void Grpc_timeout_formats_in_at_most_8_digits_never_shorter(long ticks, string expected)
    {
        var text = GrpcTimeout.Format(TimeSpan.FromTicks(ticks));
        Assert.Equal(expected, text);
        Assert.True(GrpcTimeout.TryParse(text, out var back));
        Assert.True(back.Ticks >= ticks);
    }

    [Theory]
    [InlineData("plain ascii", "plain ascii")]
    [InlineData("100%", "100%25")]
    [InlineData("ü\n", "%C3%BC%0A")]
    public void Percent_encoding_of_grpc_message(string text, string encoded)
    {
        Assert.Equal(encoded, PercentEncoding.Encode(text));
        Assert.Equal(text, PercentEncoding.Decode(encoded));
    }

    [Fact]
    public void Percent_decoding_keeps_broken_escapes()
    {
        Assert.Equal("50%", PercentEncoding.Decode("50%"));
        Assert.Equal("%zz ok", PercentEncoding.Decode("%zz ok"));
    }

    [Fact]
    public void Metadata_validates_keys_and_values()
    {
        var metadata = new Metadata().Add("X-Mixed-Case", "v");
        Assert.Equal("x-mixed-case", metadata[0].Key);
        Assert.Throws<ArgumentException>(() => new Metadata().Add("bad key", "v"));
        Assert.Throws<ArgumentException>(() => new Metadata().Add("x-text", "non-ascii ü"));
        Assert.Throws<ArgumentException>(() => new Metadata().Add("x-data-bin", "a string for a -bin key"));
        Assert.Throws<ArgumentException>(() => new Metadata().Add("x-data", new byte[] { 1 }));
    }

    [Theory]
    [InlineData("AAH+/w==")]
    [InlineData("AAH+/w")]
    public void Binary_metadata_decodes_with_and_without_padding(string text) =>
        Assert.Equal(new byte[] { 0, 1, 0xfe, 0xff }, Metadata.DecodeBinary(text));

    [Theory]
    [InlineData("127.0.0.1:50051", "127.0.0.1:50051")]
    [InlineData("localhost:0", "127.0.0.1:0")]
    [InlineData("[::1]:7", "[::1]:7")]
    [InlineData("*:80", "0.0.0.0:80")]
    public void Listen_addresses(string listen, string endpoint) => Assert.Equal(endpoint, GrpcServer.ParseListen(listen).ToString());

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    [InlineData("host:port")]
    [InlineData("localhost:99999")]
    public void Bad_listen_addresses_are_refused(string listen) =>
        Assert.Contains("is not HOST:PORT", Assert.Throws<ArgumentException>(() => GrpcServer.ParseListen(listen)).Message);
}
