using System.Text.Json.Nodes;

namespace Sd3Mesh.Cli.Tests.Soak;

/// <summary>
/// The cluster the soak runs on, in one place: cluster/redis-2host.json (Redis membership, so the worker silo stays in
/// the cluster while the primary is down): the primary host2 on 127.0.0.2 with CLIP and the VAE on cpu:0; the worker
/// host3 on 127.0.0.3 with T5 and the transformer on cpu:1, both falling back to cpu:0 when host3 dies. To soak another
/// split, change <see cref="Edit"/>: the test kills <see cref="Worker"/> whatever it holds.
/// </summary>
public static class SoakCluster
{
    public const string Shipped = "redis-2host.json";
    public const string Primary = "host2", Worker = "host3";

    /// <summary>Denoising steps per job, and a checkpoint every <see cref="CheckpointEvery"/> of them (a job running across the primary's restart resumes from one).</summary>
    public const uint Steps = 6;
    public const int CheckpointEvery = 2;

    /// <summary>Jobs one client may have waiting: fewer than a client's window, so admission pushes back now and then.</summary>
    public const int ClientQueueCapacity = 2;

    public static void Edit(JsonObject config, RedisServer redis)
    {
        config["clustering"] = new JsonObject { ["redis"] = redis.Address };
        config["store"]!["checkpoint_every"] = CheckpointEvery;
        config["jobs"] = new JsonObject { ["client_queue_capacity"] = ClientQueueCapacity };
        // The transformer (and so every job's coordinator) on the worker too, beside T5: its death takes the running
        // jobs with it, and they resume on the primary's cpu:0 from their checkpoints.
        config["placement"]!["transformer"] = "cpu:1";
        config["fallback"]!["transformer"] = "cpu:0";
    }
}
