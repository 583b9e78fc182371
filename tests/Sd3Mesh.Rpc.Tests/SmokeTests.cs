using Sd3Mesh.Rpc.Tests.Echo;

namespace Sd3Mesh.Rpc.Tests;

public class CallTypeTests
{
    [Fact]
    public async Task Unary_round_trip()
    {
        await using var echo = await EchoServer.StartAsync();
        var reply = await echo.Channel.UnaryAsync(EchoMethods.Say, new EchoRequest { Text = "héllo" });
        Assert.Equal("héllo", reply.Text);
    }
}
