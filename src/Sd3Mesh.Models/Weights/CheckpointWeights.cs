using Sd3Mesh.Tensors;

namespace Sd3Mesh.Models.Weights;

/// <summary>
/// Weights read from a diffusers/transformers safetensors checkpoint (<see cref="CheckpointFolder"/>), in any
/// of F32, F16, BF16. Known alternative names are accepted (T5's tied "encoder.embed_tokens.weight",
/// the VAE's pre-0.14 attention names query/key/value/proj_attn), and so are shapes that differ only by
/// trailing 1s (attention weights saved as 1x1 convolutions).
/// </summary>
public sealed class CheckpointWeights(CheckpointFolder folder, string submodule) : IWeightSource
{
    public CheckpointFolder Folder { get; } = folder;

    public float[] Read(string name, TensorShape shape, WeightInit init)
    {
        if (!Find(name, shape, init, out var found, out var file))
            return ((ComputedInit)init).Values();
        return ToFloat(file!.Read(found!.Name));
    }

    /// <summary>The elements as a new float32 array, converted straight from the stored type (one copy, not two).</summary>
    private static float[] ToFloat(Tensor t)
    {
        var values = new float[t.ElementCount];
        switch (t.DType)
        {
            case DType.Float32: t.AsSpan<float>().CopyTo(values); break;
            case DType.Float16: System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(t.AsSpan<Half>(), values); break;
            case DType.BFloat16:
                var bf = t.AsSpan<BFloat16>();
                for (int i = 0; i < bf.Length; i++) values[i] = (float)bf[i];
                break;
            default: return t.ToFloatArray();
        }
        return values;
    }

    public void Verify(IReadOnlyList<WeightRequest> requests)
    {
        foreach (var r in requests) Find(r.Name, r.Shape, r.Init, out _, out _);
    }

    private bool Find(string name, TensorShape shape, WeightInit init, out SafetensorsEntry? entry, out SafetensorsFile? file)
    {
        foreach (var candidate in Alternatives(name))
        {
            if (!Folder.TryGetEntry(candidate, out var e, out var f)) continue;
            if (!SameShape(e.Shape, shape))
                throw new ModelFormatException(
                    $"{submodule}: tensor '{candidate}' in {Path.GetFileName(f.Path)} has shape {e.Shape}, expected {shape}");
            if (!e.DType.IsFloatingPoint())
                throw new ModelFormatException(
                    $"{submodule}: tensor '{candidate}' in {Path.GetFileName(f.Path)} is {e.DType.Name()}, expected a floating-point type (F32, F16, BF16)");
            entry = e;
            file = f;
            return true;
        }
        if (init is ComputedInit) { entry = null; file = null; return false; }
        throw new ModelFormatException($"{submodule}: tensor '{name}' is missing from {Folder.Directory} ({Folder.Description})");
    }

    private static bool SameShape(TensorShape found, TensorShape expected)
    {
        if (found == expected) return true;
        return Squeeze(found).SequenceEqual(Squeeze(expected));
        static IEnumerable<long> Squeeze(TensorShape s)
        {
            int rank = s.Rank;
            while (rank > 1 && s[rank - 1] == 1) rank--;
            return s.Dims[..rank].ToArray();
        }
    }

    /// <summary>The name itself, then names older or tied checkpoints use for the same tensor.</summary>
    internal static IEnumerable<string> Alternatives(string name)
    {
        yield return name;
        if (name == "shared.weight") yield return "encoder.embed_tokens.weight";
        if (name.Contains(".attentions.", StringComparison.Ordinal))
        {
            foreach (var (now, before) in LegacyVaeAttention)
                if (name.Contains(now, StringComparison.Ordinal))
                    yield return name.Replace(now, before, StringComparison.Ordinal);
        }
    }

    private static readonly (string Now, string Before)[] LegacyVaeAttention =
    [
        (".to_q.", ".query."), (".to_k.", ".key."), (".to_v.", ".value."), (".to_out.0.", ".proj_attn."),
    ];
}
