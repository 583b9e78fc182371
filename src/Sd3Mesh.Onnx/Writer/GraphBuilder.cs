using Sd3Mesh.Onnx.Proto;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx.Writer;

/// <summary>
/// Builds an ONNX graph as plain code: declare inputs, add initializers and nodes, mark outputs, then
/// <see cref="Build"/>. Initializers may be lazy (a function that produces the tensor), so a model far
/// larger than memory can be written to disk one weight at a time (see <see cref="OnnxModel.Save"/>).
///
/// Names: <see cref="Scope"/> prefixes initializer names with "scope." (so weights can carry their
/// diffusers names, e.g. "transformer_blocks.0.attn.to_q.weight") and node names with "/scope/".
/// Every node input must already be defined; mistakes surface here, not deep inside ORT.
/// </summary>
public sealed class GraphBuilder
{
    private readonly GraphProto _graph;
    private readonly List<InitializerSource> _initializers = [];
    private readonly HashSet<string> _defined = new(StringComparer.Ordinal);
    private readonly HashSet<string> _outputs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _imports = new(StringComparer.Ordinal);
    private readonly List<string> _scopes = [];
    private int _counter;

    public GraphBuilder(string name = "graph", int opset = 17)
    {
        if (opset < 17) throw new ArgumentOutOfRangeException(nameof(opset), opset, "Sd3Mesh writes opset 17 or later");
        _graph = new GraphProto { Name = name };
        Opset = opset;
        _imports[""] = opset;
    }

    /// <summary>The default-domain (ai.onnx) opset version the graph targets.</summary>
    public int Opset { get; }

    /// <summary>Imports another operator domain, e.g. ("com.microsoft", 1) for ORT's contrib ops.</summary>
    public void Import(string domain, int version) => _imports[domain] = version;

    /// <summary>Prefixes the names created inside the returned scope (dispose to leave it).</summary>
    public IDisposable Scope(string name)
    {
        _scopes.Add(name);
        return new ScopeExit(this, _scopes.Count);
    }

    /// <summary>The full name that <paramref name="name"/> gets in the current scope.</summary>
    public string Qualify(string name) => _scopes.Count == 0 ? name : string.Join('.', _scopes) + "." + name;

    public Value Input(string name, DType dtype, params Dim[] shape)
    {
        Define(name);
        _graph.Input.Add(ValueInfo(name, dtype, shape));
        return new Value(name);
    }

    /// <summary>Marks <paramref name="value"/> as a graph output named <paramref name="name"/>.
    /// Pass no dims to leave the output's shape undeclared.</summary>
    public void Output(Value value, string name, DType dtype, params Dim[] shape)
    {
        RequireDefined(value, "Output");
        if (!_outputs.Add(name)) throw new ArgumentException($"graph output '{name}' is declared twice", nameof(name));
        if (value.Name != name)
        {
            Define(name);
            AddNode("Identity", [value], [name], [], "");
        }
        _graph.Output.Add(ValueInfo(name, dtype, shape.Length == 0 ? null : shape));
    }

    /// <summary>A weight known now (kept in memory until the model is saved).</summary>
    public Value Initializer(string name, Tensor tensor) =>
        Initializer(name, tensor.DType, tensor.Shape, () => tensor);

    /// <summary>A weight produced on demand when the model is written: memory holds one at a time.</summary>
    public Value Initializer(string name, DType dtype, TensorShape shape, Func<Tensor> source)
    {
        var full = Qualify(name);
        Define(full);
        _initializers.Add(new InitializerSource(full, dtype, shape, source));
        return new Value(full);
    }

    /// <summary>A constant (shape vectors, scalars, small tables), auto-named in the current scope.</summary>
    public Value Constant(Tensor tensor, string hint = "const") =>
        Initializer($"{hint}_{_counter++}", tensor);

    /// <summary>Adds a node of the default domain with one output.</summary>
    public Value Op(string opType, ReadOnlySpan<Value> inputs, params Attr[] attributes) =>
        OpIn("", opType, 1, inputs, attributes)[0];

    /// <summary>Adds a node of the default domain with several outputs.</summary>
    public Value[] Op(string opType, int outputCount, ReadOnlySpan<Value> inputs, params Attr[] attributes) =>
        OpIn("", opType, outputCount, inputs, attributes);

    /// <summary>Adds a node of another domain (imported with <see cref="Import"/>).</summary>
    public Value[] OpIn(string domain, string opType, int outputCount, ReadOnlySpan<Value> inputs, params Attr[] attributes)
    {
        if (!_imports.ContainsKey(domain))
            throw new InvalidOperationException($"operator domain '{domain}' is not imported (call Import first)");
        foreach (var v in inputs)
            if (!v.IsNone) RequireDefined(v, opType);
        var prefix = _scopes.Count == 0 ? "/" : "/" + string.Join('/', _scopes) + "/";
        int n = _counter++;
        var outputs = new string[outputCount];
        for (int i = 0; i < outputCount; i++)
        {
            outputs[i] = $"{prefix}{opType}_{n}_output_{i}";
            Define(outputs[i]);
        }
        AddNode(opType, inputs.ToArray(), outputs, attributes, domain, $"{prefix}{opType}_{n}");
        return Array.ConvertAll(outputs, o => new Value(o));
    }

    public OnnxModel Build(string producer = "Sd3Mesh", string docString = "", IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (_graph.Output.Count == 0) throw new InvalidOperationException($"graph '{_graph.Name}' has no outputs");
        var model = new ModelProto
        {
            IrVersion = IrVersionFor(Opset),
            ProducerName = producer,
            ProducerVersion = typeof(GraphBuilder).Assembly.GetName().Version?.ToString() ?? "",
            DocString = docString,
            Graph = _graph.Clone(),
        };
        foreach (var (domain, version) in _imports)
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = domain, Version = version });
        if (metadata is not null)
            foreach (var (k, v) in metadata)
                model.MetadataProps.Add(new StringStringEntryProto { Key = k, Value = v });
        return new OnnxModel(model, _initializers.ToArray());
    }

    /// <summary>The ONNX IR version that introduced each opset (ONNX's versioning table).</summary>
    internal static long IrVersionFor(int opset) => opset switch
    {
        <= 18 => 8,
        <= 20 => 9,
        <= 22 => 10,
        _ => 11,
    };

    private void AddNode(string opType, Value[] inputs, string[] outputs, Attr[] attributes, string domain, string? name = null)
    {
        var node = new NodeProto { OpType = opType, Domain = domain, Name = name ?? $"/{opType}_{_counter++}" };
        node.Input.AddRange(inputs.Select(v => v.Name));
        node.Output.AddRange(outputs);
        foreach (var a in attributes) node.Attribute.Add(a.ToProto());
        _graph.Node.Add(node);
    }

    private void Define(string name)
    {
        if (string.IsNullOrEmpty(name)) throw new ArgumentException("a graph value needs a name");
        if (!_defined.Add(name)) throw new ArgumentException($"'{name}' is already defined in graph '{_graph.Name}'");
    }

    private void RequireDefined(Value v, string user)
    {
        if (!_defined.Contains(v.Name))
            throw new InvalidOperationException($"{user} uses '{v.Name}', which no input, initializer or earlier node defines");
    }

    private static ValueInfoProto ValueInfo(string name, DType dtype, Dim[]? shape)
    {
        var tensorType = new TypeProto.Types.Tensor { ElemType = (int)dtype };
        if (shape is not null)
        {
            tensorType.Shape = new TensorShapeProto();
            foreach (var d in shape)
                tensorType.Shape.Dim.Add(d.Param is null
                    ? new TensorShapeProto.Types.Dimension { DimValue = d.Value!.Value }
                    : new TensorShapeProto.Types.Dimension { DimParam = d.Param });
        }
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tensorType } };
    }

    private sealed class ScopeExit(GraphBuilder builder, int depth) : IDisposable
    {
        public void Dispose()
        {
            if (builder._scopes.Count != depth) throw new InvalidOperationException("scopes must be left in reverse order");
            builder._scopes.RemoveAt(depth - 1);
        }
    }
}

/// <summary>A weight declared in a graph: name, type, shape, and how to produce its data.</summary>
public sealed record InitializerSource(string Name, DType DType, TensorShape Shape, Func<Tensor> Source)
{
    public long ByteCount => Shape.ElementCount * DType.SizeOf();

    internal Tensor Materialize()
    {
        var t = Source();
        if (t.DType != DType || t.Shape != Shape)
            throw new InvalidOperationException(
                $"initializer '{Name}' was declared {DType.Name()} {Shape} but its source produced {t.DType.Name()} {t.Shape}");
        return t;
    }
}
