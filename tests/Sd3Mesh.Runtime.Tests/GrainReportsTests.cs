using Sd3Mesh.Onnx;
using Sd3Mesh.Runtime.Grains;

namespace Sd3Mesh.Runtime.Tests;

public sealed class GrainReportsTests
{
    private static GrainReport Report(string submodule, string device, long calls, SessionState state = SessionState.Active) =>
        new($"m/{submodule}@{device}", submodule, device, "s0", state, 1000, calls, 2.5, 4, null, null, 10, 1);

    [Fact]
    public void Live_grains_answer_with_their_report_now_and_deactivated_ones_leave_their_last()
    {
        var reports = new GrainReports();
        long calls = 3;
        reports.Activated("m/transformer@cuda:0", () => Report("transformer", "cuda:0", calls));
        reports.Activated("m/vae@cuda:1", () => Report("vae", "cuda:1", 1));
        calls = 5; // read when asked, not when activated
        var transformer = Assert.Single(reports.On(Device.Parse("cuda:0")));
        Assert.Equal((5L, SessionState.Active, false), (transformer.Calls, transformer.State, transformer.Deactivated));

        reports.Deactivated("m/transformer@cuda:0", Report("transformer", "cuda:0", 7));
        var last = Assert.Single(reports.On(Device.Parse("cuda:0")));
        Assert.Equal((7L, SessionState.Offloaded, true), (last.Calls, last.State, last.Deactivated));
        Assert.Equal(["m/vae@cuda:1"], reports.On(Device.Parse("cuda:1")).Select(r => r.Key));
        Assert.Empty(reports.On(Device.Parse("cpu:0")));

        // Activated again: the live report replaces the last one.
        reports.Activated("m/transformer@cuda:0", () => Report("transformer", "cuda:0", 0, SessionState.Offloaded));
        var again = Assert.Single(reports.On(Device.Parse("cuda:0")));
        Assert.Equal((0L, false), (again.Calls, again.Deactivated));
    }
}
