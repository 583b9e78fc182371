using GraphOptimizationLevel = Microsoft.ML.OnnxRuntime.GraphOptimizationLevel;
using OrtLoggingLevel = Microsoft.ML.OnnxRuntime.OrtLoggingLevel;
using Sd3Mesh.Onnx.Diagnostics;
using Sd3Mesh.Onnx.Proto;
using Sd3Mesh.Onnx.Writer;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx.Tests.Runtime;

public sealed class SessionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sd3mesh-session-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Metadata_reports_names_types_and_symbolic_dims()
    {
        using var session = OnnxSession.Create(TestModels.MatMulAdd());
        var x = Assert.Single(session.Inputs);
        Assert.Equal("x", x.Name);
        Assert.Equal(DType.Float32, x.DType);
        Assert.Equal([-1L, 4L], x.Dims);
        Assert.Equal(new string?[] { "batch", null }, x.SymbolicDims.AsEnumerable());
        Assert.Equal("float32 [batch, 4]", x.TypeText);
        var y = Assert.Single(session.Outputs);
        Assert.Equal("y: float32 [batch, 3]", y.ToString());
        Assert.Equal(Device.Cpu, session.Device);
    }

    [Fact]
    public void Dynamic_batch_runs_with_two_sizes_and_matches_float64()
    {
        using var session = OnnxSession.Create(TestModels.MatMulAdd());
        foreach (int batch in new[] { 2, 5 })
        {
            var x = TestModels.Floats(batch * 4, stream: (ulong)batch);
            var y = session.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(x, batch, 4) })["y"];
            Assert.Equal(new TensorShape(batch, 3), y.Shape);
            TestModels.AssertClose(TestModels.MatMulAddReference(x, batch), y.ToArray<float>(), 1e-5);
        }
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float16)]
    public void MatMulAdd_Softmax_LayerNorm_and_Conv_match_float64_references(DType dtype)
    {
        // fp32: relative L2 error <= 1e-5; fp16: <= 1e-2 (SelfChecks.ToleranceFor).
        foreach (var check in SelfChecks.Cases(dtype))
        {
            var result = SelfChecks.Run(Device.Cpu, check);
            Assert.Null(result.Error);
            Assert.Equal(dtype.Name(), result.Math);
            Assert.True(result.Passed, $"{check.Name} {dtype.Name()}: relative L2 error {result.RelativeL2Error:g3} > {result.Tolerance:g3}");
            Assert.InRange(result.RelativeL2Error, 0, SelfChecks.ToleranceFor(dtype));
        }
    }

    [Fact]
    public void Logical_cpu_devices_run_on_the_cpu_provider()
    {
        using var session = OnnxSession.Create(TestModels.MatMulAdd(), new SessionSettings { Device = Device.Parse("cpu:3") });
        var x = TestModels.Floats(4);
        var y = session.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(x, 1, 4) })["y"];
        TestModels.AssertClose(TestModels.MatMulAddReference(x, 1), y.ToArray<float>(), 1e-5);
        Assert.Equal(Device.Parse("cpu:3"), session.Device);
    }

    [Fact]
    public void Float16_graph_keeps_float16_end_to_end()
    {
        // y = x * x + x in float16; exact for these values (all products and sums are representable).
        var g = new GraphBuilder("fp16");
        var x = g.Input("x", DType.Float16, 2, 3);
        g.Output(g.Add(g.Mul(x, x), x), "y", DType.Float16, 2, 3);
        using var session = OnnxSession.Create(g.Build().ToBytes());
        var input = new[] { 0.5f, -1.5f, 2f, 3.25f, -0.125f, 10f };
        var y = session.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(input, 2, 3).ToDType(DType.Float16) })["y"];
        Assert.Equal(DType.Float16, y.DType);
        Assert.Equal(input.Select(v => v * v + v).ToArray(), y.ToFloatArray());
    }

    [Fact]
    public void BFloat16_int64_int32_int8_uint8_bool_and_float64_round_trip()
    {
        var g = new GraphBuilder("types");
        var bf = g.Input("bf", DType.BFloat16, 3);
        g.Output(g.Cast(bf, DType.Float32), "bf_as_f32", DType.Float32, 3);
        g.Output(g.Cast(g.Cast(bf, DType.Float32), DType.BFloat16), "bf_back", DType.BFloat16, 3);
        var i64 = g.Input("i64", DType.Int64, 2);
        g.Output(g.Add(i64, g.Int64s(1)), "i64_plus_1", DType.Int64, 2);
        var flags = g.Input("flags", DType.Bool, 3);
        g.Output(g.Op("Not", [flags]), "not_flags", DType.Bool, 3);
        foreach (var (name, dtype) in new[] { ("i32", DType.Int32), ("i8", DType.Int8), ("u8", DType.UInt8), ("f64", DType.Float64) })
            g.Output(g.Op("Identity", [g.Input(name, dtype, 2)]), name + "_out", dtype, 2);
        using var session = OnnxSession.Create(g.Build().ToBytes());

        var bfValues = new[] { (BFloat16)1.5f, (BFloat16)(-3.0f), (BFloat16)1e20f };
        var outputs = session.Run(new Dictionary<string, Tensor>
        {
            ["bf"] = Tensor.FromArray(bfValues, 3),
            ["i64"] = Tensor.FromArray(new[] { long.MaxValue - 1, -7L }, 2),
            ["flags"] = Tensor.FromArray(new[] { true, false, true }, 3),
            ["i32"] = Tensor.FromArray(new[] { int.MinValue, 12345 }, 2),
            ["i8"] = Tensor.FromArray(new sbyte[] { -128, 127 }, 2),
            ["u8"] = Tensor.FromArray(new byte[] { 0, 255 }, 2),
            ["f64"] = Tensor.FromArray(new[] { Math.PI, -1e-300 }, 2),
        });
        Assert.Equal(bfValues.Select(v => (float)v), outputs["bf_as_f32"].ToArray<float>());
        Assert.Equal(bfValues, outputs["bf_back"].ToArray<BFloat16>());
        Assert.Equal([long.MaxValue, -6L], outputs["i64_plus_1"].ToArray<long>());
        Assert.Equal([false, true, false], outputs["not_flags"].ToArray<bool>());
        Assert.Equal([int.MinValue, 12345], outputs["i32_out"].ToArray<int>());
        Assert.Equal(new sbyte[] { -128, 127 }, outputs["i8_out"].ToArray<sbyte>());
        Assert.Equal(new byte[] { 0, 255 }, outputs["u8_out"].ToArray<byte>());
        Assert.Equal([Math.PI, -1e-300], outputs["f64_out"].ToArray<double>());
    }

    [Fact]
    public void A_model_with_external_data_loads_by_path()
    {
        const int n = 64; // 64 x 64 float32 = 16 KB > the 1 KB threshold: goes to model.onnx_data
        var w = TestModels.Floats(n * n, 0.1f, stream: 7);
        var g = new GraphBuilder("external");
        g.Output(g.MatMul(g.Input("x", DType.Float32, 1, n), g.Initializer("w", Tensor.FromArray(w, n, n))), "y", DType.Float32, 1, n);
        string path = Path.Combine(_dir, "model.onnx");
        g.Build().Save(path, new SaveOptions { ExternalDataThreshold = 1024 });
        Assert.True(new FileInfo(path + "_data").Length >= n * n * 4);
        Assert.True(new FileInfo(path).Length < 1024);

        using var session = OnnxSession.Create(path);
        var x = TestModels.Floats(n, stream: 8);
        var y = session.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(x, 1, n) })["y"];
        var expected = ReferenceMath.MatMul(Array.ConvertAll(x, v => (double)v), Array.ConvertAll(w, v => (double)v), 1, n, n);
        TestModels.AssertClose(expected, y.ToArray<float>(), 1e-5);
    }

    [Fact]
    public void Free_dimension_overrides_fix_dims_by_name_and_by_denotation()
    {
        var byName = new SessionSettings();
        byName.FreeDimensionOverrides["batch"] = 3;
        using (var session = OnnxSession.Create(TestModels.MatMulAdd(), byName))
            Assert.Equal([3L, 4L], session.Inputs[0].Dims);

        var proto = ModelProto.Parser.ParseFrom(TestModels.MatMulAdd());
        proto.Graph.Input[0].Type.TensorType.Shape.Dim[0].Denotation = "DATA_BATCH";
        var byDenotation = new SessionSettings();
        byDenotation.FreeDimensionOverridesByDenotation["DATA_BATCH"] = 6;
        using (var session = OnnxSession.Create(Google.Protobuf.MessageExtensions.ToByteArray(proto), byDenotation))
            Assert.Equal([6L, 4L], session.Inputs[0].Dims);
    }

    [Fact]
    public void Session_options_reach_ONNX_Runtime()
    {
        var options = new SessionSettings
        {
            IntraOpThreads = 1,
            InterOpThreads = 1,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL,
            EnableMemoryPattern = false,
            EnableCpuArena = false,
            LogId = "options-test",
            LogLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        options.ConfigEntries["session.disable_cpu_ep_fallback"] = "0";
        using var session = OnnxSession.Create(TestModels.MatMulAdd(), options);
        var x = TestModels.Floats(8);
        TestModels.AssertClose(TestModels.MatMulAddReference(x, 2),
            session.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(x, 2, 4) })["y"].ToArray<float>(), 1e-5);

        options.ConfigEntries["session.no_such_key_but_accepted"] = "1"; // ORT accepts unknown keys
        using var again = OnnxSession.Create(TestModels.MatMulAdd(), options);
        Assert.Equal(1, again.Settings.IntraOpThreads);
        options.IntraOpThreads = 2;
        Assert.Equal(1, again.Settings.IntraOpThreads); // the session keeps a copy of its settings
    }

    [Fact]
    public void Sessions_from_bytes_and_from_path_agree()
    {
        string path = Path.Combine(_dir, "inline.onnx");
        TestModels.MatMulAddGraph().Build().Save(path);
        using var fromPath = OnnxSession.Create(path);
        using var fromBytes = OnnxSession.Create(TestModels.MatMulAdd());
        var input = new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(TestModels.Floats(12), 3, 4) };
        Assert.Equal(fromBytes.Run(input)["y"].ToArray<float>(), fromPath.Run(input)["y"].ToArray<float>());
    }

    [Fact]
    public void Cpu_sessions_run_concurrently_with_correct_results()
    {
        using var session = OnnxSession.Create(TestModels.MatMulAdd(), new SessionSettings { IntraOpThreads = 1 });
        Parallel.For(0, 16, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            var x = TestModels.Floats(4 * (i + 1), stream: (ulong)i);
            var y = session.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(x, i + 1, 4) })["y"];
            TestModels.AssertClose(TestModels.MatMulAddReference(x, i + 1), y.ToArray<float>(), 1e-5);
        });
    }
}
