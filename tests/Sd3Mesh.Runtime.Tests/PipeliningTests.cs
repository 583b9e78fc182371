using Sd3Mesh.Pipeline;

namespace Sd3Mesh.Runtime.Tests;

[Collection(GrainClusterCollection.Name)]
public sealed class PipeliningTests(GrainClusterFixture fixture)
{
    [Fact]
    public async Task Jobs_in_flight_together_give_what_each_gives_alone()
    {
        // Distinct prompts (the coordinators share a prompt-embedding cache, which would skip the encoders) and seeds.
        var requests = Enumerable.Range(0, 4).Select(i => TestClusters.Request($"a lighthouse at dusk, study {i}", (ulong)(100 + i))).ToArray();
        var observers = requests.Select(_ => new RecordingObserver()).ToArray();
        var together = await Task.WhenAll(requests.Select((r, i) => TestClusters.RunAsync(fixture.Client, r, observer: observers[i])));

        var pipeline = new Sd3Pipeline(fixture.Local.Components);
        for (int i = 0; i < requests.Length; i++)
            Assert.Equal((await pipeline.GenerateAsync(requests[i])).Images[0].ToPng(), Assert.Single(together[i]).Data);

        // They were in flight together: some job began denoising before another had finished its steps.
        await TestClusters.WaitForAsync(() => observers.All(o => o.Events.Count(e => e.IsStep) == 4), TimeSpan.FromSeconds(5), "every step event");
        var spans = observers.Select(o => o.Timed).Select(t => (
            Start: t.First(e => e.Progress.Stage == PipelineStage.Denoise && !e.Progress.IsStep).At,
            End: t.Last(e => e.Progress.IsStep).At)).ToArray();
        Assert.Contains(spans, a => spans.Any(b => b != a && b.Start > a.Start && b.Start < a.End));
    }
}
