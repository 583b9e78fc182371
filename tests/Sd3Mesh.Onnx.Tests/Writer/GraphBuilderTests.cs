using System.Text.Json;
using Sd3Mesh.Onnx.Proto;
using Sd3Mesh.Onnx.Writer;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx.Tests.Writer;

public sealed class GraphBuilderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sd3mesh-writer-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static OnnxModel MatMulAdd(out Tensor w, out Tensor b)
    {
        var g = new GraphBuilder("matmul_add");
        var x = g.Input("x", DType.Float32, "batch", 4);
        w = Tensor.FromArray(Enumerable.Range(0, 12).Select(i => i * 0.5f).ToArray(), 4, 3);
        b = Tensor.FromArray(new[] { 1f, -2f, 3f }, 3);
        using (g.Scope("proj"))
        {
            var y = g.Add(g.MatMul(x, g.Initializer("weight", w)), g.Initializer("bias", b));
            g.Output(y, "y", DType.Float32, "batch", 3);
        }
        return g.Build();
    }

    [Fact]
    public void Inline_model_round_trips_through_protobuf()
    {
        var bytes = MatMulAdd(out var w, out var b).ToBytes();
        var model = ModelProto.Parser.ParseFrom(bytes);

        Assert.Equal(8, model.IrVersion);
        Assert.Equal(17, Assert.Single(model.OpsetImport).Version);
        var input = Assert.Single(model.Graph.Input);
        Assert.Equal("x", input.Name);
        Assert.Equal((int)DType.Float32, input.Type.TensorType.ElemType);
        Assert.Equal("batch", input.Type.TensorType.Shape.Dim[0].DimParam);
        Assert.Equal(4, input.Type.TensorType.Shape.Dim[1].DimValue);
        Assert.Equal(["MatMul", "Add", "Identity"], model.Graph.Node.Select(n => n.OpType));
        Assert.Equal("/proj/MatMul_0", model.Graph.Node[0].Name);

        var weight = model.Graph.Initializer.Single(t => t.Name == "proj.weight");
        Assert.Equal(w.ToArray<float>(), TensorProtos.ToTensor(weight).ToArray<float>());
        Assert.Equal([4L, 3L], weight.Dims);
        Assert.Equal(b.ToArray<float>(), TensorProtos.ToTensor(model.Graph.Initializer.Single(t => t.Name == "proj.bias")).ToArray<float>());
    }

    [Fact]
    public void External_data_is_aligned_and_read_back()
    {
        var g = new GraphBuilder("ext");
        var x = g.Input("x", DType.Float32, 1, 1000);
        var big1 = Tensor.FromArray(Enumerable.Range(0, 1000 * 10).Select(i => (float)Math.Sin(i)).ToArray(), 1000, 10);
        var big2 = Tensor.FromArray(Enumerable.Range(0, 10 * 7).Select(i => (float)i).ToArray(), 10, 7);
        var small = Tensor.FromArray(new[] { 0.25f }, 1);
        int produced = 0;
        var y = g.MatMul(x, g.Initializer("w1", DType.Float32, big1.Shape, () => { produced++; return big1; }));
        y = g.MatMul(y, g.Initializer("w2", big2));
        g.Output(g.Mul(y, g.Initializer("s", small)), "y", DType.Float32, 1, 7);
        var model = g.Build();
        Assert.Equal(0, produced); // lazy until saved

        var progress = new List<long>();
        var path = Path.Combine(_dir, "model.onnx");
        model.Save(path, new SaveOptions { ExternalDataThreshold = 64, Progress = new SyncProgress(progress) });
        Assert.Equal(1, produced);
        Assert.Equal([40000L, 40280L, 40284L], progress);

        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        var w1 = proto.Graph.Initializer.Single(t => t.Name == "w1");
        var w2 = proto.Graph.Initializer.Single(t => t.Name == "w2");
        var s = proto.Graph.Initializer.Single(t => t.Name == "s");
        Assert.Equal(TensorProto.Types.DataLocation.External, w1.DataLocation);
        Assert.Equal(["model.onnx_data", "0", "40000"], w1.ExternalData.Select(e => e.Value));
        Assert.Equal(["model.onnx_data", "40960", "280"], w2.ExternalData.Select(e => e.Value)); // next multiple of 4096
        Assert.Equal(TensorProto.Types.DataLocation.Default, s.DataLocation);
        Assert.Equal(40960 + 280, new FileInfo(Path.Combine(_dir, "model.onnx_data")).Length);

        Assert.Equal(big1.ToArray<float>(), TensorProtos.ToTensor(w1, _dir).ToArray<float>());
        Assert.Equal(big2.ToArray<float>(), TensorProtos.ToTensor(w2, _dir).ToArray<float>());
        Assert.Equal([0.25f], TensorProtos.ToTensor(s, _dir).ToArray<float>());
    }

    [Fact]
    public void Python_onnx_checker_accepts_the_saved_model_and_infers_shapes()
    {
        var path = Path.Combine(_dir, "m.onnx");
        MatMulAdd(out _, out _).Save(path, new SaveOptions { ExternalDataThreshold = 16 });
        using var json = JsonDocument.Parse(Python.Run("check_model.py", path));
        var root = json.RootElement;
        Assert.Equal(8, root.GetProperty("ir_version").GetInt32());
        Assert.Equal(17, root.GetProperty("opsets").GetProperty("").GetInt32());
        Assert.Equal("""["batch",3]""", root.GetProperty("inferred_output_shapes")[0].GetRawText().Replace(" ", ""));
        // First elements of the weight as python's numpy_helper read them (from external data).
        Assert.Equal("[0.0,0.5,1.0,1.5]", root.GetProperty("initializers").GetProperty("proj.weight").GetRawText().Replace(" ", ""));
    }

    [Fact]
    public void Fp16_and_int64_initializers_keep_their_bytes()
    {
        var g = new GraphBuilder("types");
        var x = g.Input("x", DType.Float16, 2);
        var h = Tensor.FromArray(new[] { (Half)1.5f, (Half)(-0.25f) }, 2);
        g.Output(g.Add(x, g.Initializer("h", h)), "y", DType.Float16, 2);
        g.Output(g.Shape(x), "shape", DType.Int64, 1);
        var model = ModelProto.Parser.ParseFrom(g.Build().ToBytes());
        var t = TensorProtos.ToTensor(model.Graph.Initializer.Single(i => i.Name == "h"));
        Assert.Equal(DType.Float16, t.DType);
        Assert.Equal(new[] { (Half)1.5f, (Half)(-0.25f) }, t.ToArray<Half>());
    }

    [Fact]
    public void A_tensor_proto_over_2_GiB_is_refused_before_reading()
    {
        var proto = TensorProtos.Header("huge", DType.Float32, new TensorShape(1L << 30));
        var e = Assert.Throws<ArgumentException>(() => TensorProtos.ToTensor(proto));
        Assert.StartsWith("a float32 tensor of shape [1073741824] (1073741824 elements of 4 bytes) is larger than the 2147483591 bytes", e.Message);
    }

    [Fact]
    public void Undefined_input_is_reported_with_its_name()
    {
        var g = new GraphBuilder();
        var e = Assert.Throws<InvalidOperationException>(() => g.Op("Relu", [new Value("nowhere")]));
        Assert.Equal("Relu uses 'nowhere', which no input, initializer or earlier node defines", e.Message);
    }

    [Fact]
    public void Duplicate_names_and_outputs_are_refused()
    {
        var g = new GraphBuilder("dup");
        var x = g.Input("x", DType.Float32, 1);
        Assert.Equal("'x' is already defined in graph 'dup'", Assert.Throws<ArgumentException>(() => g.Input("x", DType.Float32, 1)).Message);
        g.Output(x, "y", DType.Float32);
        Assert.StartsWith("graph output 'y' is declared twice", Assert.Throws<ArgumentException>(() => g.Output(x, "y", DType.Float32)).Message);
    }

    [Fact]
    public void Lazy_initializer_with_wrong_shape_fails_when_saved()
    {
        var g = new GraphBuilder();
        var x = g.Input("x", DType.Float32, 2);
        g.Output(g.Add(x, g.Initializer("b", DType.Float32, new TensorShape(2), () => Tensor.Zeros(DType.Float32, new TensorShape(3)))), "y", DType.Float32);
        var e = Assert.Throws<InvalidOperationException>(() => g.Build().Save(Path.Combine(_dir, "bad.onnx")));
        Assert.Equal("initializer 'b' was declared float32 [2] but its source produced float32 [3]", e.Message);
    }

    [Fact]
    public void Reduce_axes_follow_the_opset()
    {
        foreach (var opset in new[] { 17, 18 })
        {
            var g = new GraphBuilder("r", opset);
            var x = g.Input("x", DType.Float32, 2, 3);
            g.Output(g.ReduceMean(x, [1]), "m", DType.Float32);
            var node = ModelProto.Parser.ParseFrom(g.Build().ToBytes()).Graph.Node[0];
            Assert.Equal(opset == 17 ? 1 : 2, node.Input.Count);
            Assert.Equal(opset == 17, node.Attribute.Any(a => a.Name == "axes"));
        }
    }

    [Theory]
    [InlineData(17, 8)]
    [InlineData(18, 8)]
    [InlineData(20, 9)]
    [InlineData(21, 10)]
    [InlineData(23, 11)]
    public void Ir_version_is_the_one_that_introduced_the_opset(int opset, long ir)
    {
        var g = new GraphBuilder("v", opset);
        g.Output(g.Input("x", DType.Float32, 1), "y", DType.Float32);
        Assert.Equal(ir, ModelProto.Parser.ParseFrom(g.Build().ToBytes()).IrVersion);
    }

    [Fact]
    public void Attribute_of_unsupported_type_names_the_attribute()
    {
        var g = new GraphBuilder();
        var x = g.Input("x", DType.Float32, 1);
        var e = Assert.Throws<ArgumentException>(() => g.Op("Foo", [x], ("when", DateTime.Now)));
        Assert.Equal("attribute 'when' has a value of type DateTime, which ONNX attributes cannot hold", e.Message);
    }

    private sealed class SyncProgress(List<long> sink) : IProgress<long>
    {
        public void Report(long value) => sink.Add(value);
    }
}
