using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx.Tests.Runtime;

public sealed class LoggingAndProfilingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sd3mesh-profile-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void ORT_log_messages_reach_the_ILogger()
    {
        var factory = new ListLoggerFactory();
        using (var env = OrtEnvironment.Create(factory, OrtLogLevel.Verbose))
        using (var session = InferenceSession.Create(env, TestModels.MatMulAdd(), new SessionOptions { LogId = "logging-test" }))
            session.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(new float[4], 1, 4) });

        Assert.Contains(OrtEnvironment.LoggerCategory, factory.Categories);
        var messages = factory.Entries.ToArray();
        Assert.NotEmpty(messages);
        Assert.All(messages, m => Assert.False(string.IsNullOrWhiteSpace(m.Message)));
        Assert.Contains(messages, m => m.Level == LogLevel.Trace); // ORT's VERBOSE
        Assert.Contains(messages, m => m.Message.Contains("logging-test", StringComparison.Ordinal)); // the session's log id

        int after = factory.Entries.Count;
        using (var quiet = OrtEnvironment.Create())
        using (InferenceSession.Create(quiet, TestModels.MatMulAdd())) { }
        Assert.Equal(after, factory.Entries.Count); // a disposed environment's logger gets nothing more
    }

    [Fact]
    public void Profiling_writes_a_JSON_trace_and_returns_its_path()
    {
        using var env = OrtEnvironment.Create();
        var options = new SessionOptions { ProfilingFilePrefix = Path.Combine(_dir, "matmul_add") };
        using var session = InferenceSession.Create(env, TestModels.MatMulAdd(), options);
        session.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(new float[8], 2, 4) });
        string path = session.EndProfiling();

        Assert.StartsWith(Path.Combine(_dir, "matmul_add"), path);
        Assert.EndsWith(".json", path);
        using var trace = JsonDocument.Parse(File.ReadAllText(path));
        var events = trace.RootElement.EnumerateArray().ToArray();
        Assert.Contains(events, e => e.GetProperty("name").GetString() == "model_run");
        Assert.Contains(events, e => e.GetProperty("cat").GetString() == "Node");

        using var unprofiled = InferenceSession.Create(env, TestModels.MatMulAdd());
        var error = Assert.Throws<InvalidOperationException>(() => unprofiled.EndProfiling());
        Assert.Equal("profiling is off for this session: set SessionOptions.ProfilingFilePrefix", error.Message);
    }

    private sealed record Entry(string Category, LogLevel Level, string Message);

    private sealed class ListLoggerFactory : ILoggerFactory
    {
        public ConcurrentQueue<Entry> Entries { get; } = new();
        public ConcurrentBag<string> Categories { get; } = [];
        public ILogger CreateLogger(string categoryName)
        {
            Categories.Add(categoryName);
            return new ListLogger(this, categoryName);
        }
        public void AddProvider(ILoggerProvider provider) { }
        public void Dispose() { }

        private sealed class ListLogger(ListLoggerFactory owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
            public bool IsEnabled(LogLevel logLevel) => true;
            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                owner.Entries.Enqueue(new Entry(category, logLevel, formatter(state, exception)));
        }
    }
}
