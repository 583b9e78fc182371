using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using Sd3Mesh.Onnx.Diagnostics;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx.Tests.Runtime;

public sealed class LoggingAndProfilingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sd3mesh-profile-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void ORT_log_messages_reach_the_ILogger()
    {
        var logger = new ListLogger();
        OrtRuntime.Logger = logger;
        OrtRuntime.LogLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_VERBOSE;
        try
        {
            using var session = OnnxSession.Create(TestModels.MatMulAdd(), new SessionSettings { LogId = "logging-test" });
            session.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(new float[4], 1, 4) });
        }
        finally
        {
            OrtRuntime.LogLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING;
            OrtRuntime.Logger = null;
        }
        var messages = logger.Entries.ToArray();
        Assert.NotEmpty(messages);
        Assert.All(messages, m => Assert.False(string.IsNullOrWhiteSpace(m.Message)));
        Assert.Contains(messages, m => m.Level == LogLevel.Trace); // ORT's VERBOSE
        Assert.Contains(messages, m => m.Message.Contains("logging-test", StringComparison.Ordinal)); // the session's log id
    }

    [Fact]
    public void Profiling_writes_a_JSON_trace_and_the_summary_counts_every_kernel_by_op_type()
    {
        var settings = new SessionSettings { ProfilingFilePrefix = Path.Combine(_dir, "matmul_add") };
        using var session = OnnxSession.Create(TestModels.MatMulAdd(), settings);
        for (int i = 0; i < 3; i++) session.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(new float[8], 2, 4) });
        string path = session.EndProfiling();

        Assert.StartsWith(Path.Combine(_dir, "matmul_add"), path);
        Assert.EndsWith(".json", path);
        using (var trace = JsonDocument.Parse(File.ReadAllText(path)))
        {
            var events = trace.RootElement.EnumerateArray().ToArray();
            Assert.Contains(events, e => e.GetProperty("name").GetString() == "model_run");
            Assert.Contains(events, e => e.GetProperty("cat").GetString() == "Node");
        }

        // MatMul + Add may be fused into one Gemm or kept: either way three runs of one model give 3 runs and whole kernels.
        var profile = OrtProfile.Read(path);
        Assert.Equal(3, profile.RunCount);
        Assert.True(profile.ModelRuns > TimeSpan.Zero);
        Assert.NotEmpty(profile.OpTypes);
        Assert.All(profile.OpTypes, o => Assert.Equal(0, o.Calls % 3));
        Assert.All(profile.OpTypes, o => Assert.Equal(["CPUExecutionProvider"], o.Providers));
        Assert.True(profile.KernelTotal <= profile.ModelRuns);

        using var unprofiled = OnnxSession.Create(TestModels.MatMulAdd());
        var error = Assert.Throws<InvalidOperationException>(() => unprofiled.EndProfiling());
        Assert.Equal("profiling is off for this session: set SessionSettings.ProfilingFilePrefix", error.Message);
    }

    [Fact]
    public void The_summary_groups_kernel_events_by_op_type_longest_first()
    {
        const string json = """
            [
              {"cat":"Session","name":"model_run","dur":100},
              {"cat":"Node","name":"a_kernel_time","dur":30,"args":{"op_name":"MatMul","provider":"CUDAExecutionProvider"}},
              {"cat":"Node","name":"a_fence_before","dur":5,"args":{"op_name":"MatMul"}},
              {"cat":"Node","name":"b_kernel_time","dur":20,"args":{"op_name":"MatMul","provider":"CUDAExecutionProvider"}},
              {"cat":"Node","name":"c_kernel_time","dur":40,"args":{"op_name":"MultiHeadAttention","provider":"CUDAExecutionProvider"}},
              {"cat":"Node","name":"d_kernel_time","dur":1,"args":{"op_name":"Shape","provider":"CPUExecutionProvider"}}
            ]
            """;
        var profile = OrtProfile.Parse(json);
        Assert.Equal(["MatMul", "MultiHeadAttention", "Shape"], profile.OpTypes.Select(o => o.OpType));
        Assert.Equal((2, 50.0), (profile.OpTypes[0].Calls, profile.OpTypes[0].Total.TotalMicroseconds));
        Assert.Equal(TimeSpan.FromMicroseconds(100), profile.ModelRuns);
        Assert.Equal(TimeSpan.FromMicroseconds(91), profile.KernelTotal);
    }

    private sealed record Entry(LogLevel Level, string Message);

    private sealed class ListLogger : ILogger
    {
        public ConcurrentQueue<Entry> Entries { get; } = new();
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Enqueue(new Entry(logLevel, formatter(state, exception)));
    }
}
