using Sd3Mesh.Rpc.Benchmark;

namespace Sd3Mesh.Rpc.Tests;

public class BenchmarkRunnerTests
{
    [Fact]
    public async Task The_runner_measures_all_four_figures_on_a_tiny_workload()
    {
        await using var echo = await EchoServer.StartAsync();
        var result = await RpcBenchmarkRunner.RunAsync(echo.Channel, calls: 20, streamBytes: 4 * 64 * 1024, frameBytes: 64 * 1024);
        Assert.InRange(result.UnaryP50Us, 1, result.UnaryP99Us);
        Assert.True(result.DownloadMiBps > 0 && double.IsFinite(result.DownloadMiBps));
        Assert.True(result.UploadMiBps > 0 && double.IsFinite(result.UploadMiBps));
    }

    [Fact]
    public void The_pattern_is_the_documented_formula_and_mismatches_are_found()
    {
        var data = new byte[1000];
        BytePattern.Fill(data, 123_456_789);
        for (int i = 0; i < data.Length; i++) Assert.Equal((byte)(((123_456_789L + i) * 31 + 7) % 251), data[i]);
        Assert.Equal(-1, BytePattern.FindMismatch(data, 123_456_789));
        data[500]++;
        Assert.Equal(123_456_789 + 500, BytePattern.FindMismatch(data, 123_456_789));
    }
}
