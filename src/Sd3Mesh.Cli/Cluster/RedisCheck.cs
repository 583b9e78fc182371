using Sd3Mesh.Runtime.Config;
using StackExchange.Redis;

namespace Sd3Mesh.Cli.Cluster;

/// <summary>
/// The Redis server a config's membership lives in (<c>clustering.redis</c>), asked once before any silo starts: a silo
/// that cannot reach it would otherwise fail its start with a long Orleans error.
/// </summary>
internal static class RedisCheck
{
    /// <summary>Null when the server answers PING (or the config uses localhost clustering); else one line naming the field.</summary>
    public static async Task<string?> ProblemAsync(ClusteringSpec clustering)
    {
        if (clustering.Redis is not { } redis) return null;
        var options = ConfigurationOptions.Parse(redis);
        options.AbortOnConnectFail = true;
        options.ConnectTimeout = 3000;
        options.ConnectRetry = 1;
        try
        {
            await using var connection = await ConnectionMultiplexer.ConnectAsync(options);
            await connection.GetDatabase().PingAsync();
            return null;
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return NoAnswer(clustering);
        }
    }

    /// <summary>What a silo or `cluster up` says when the membership's Redis server does not answer.</summary>
    public static string NoAnswer(ClusteringSpec clustering) =>
        $"clustering.redis: no Redis server answers at {clustering.Redis?.Split(',')[0]}; start one (cluster/redis.sh start) or fix the address";
}
