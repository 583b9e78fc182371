using BenchmarkDotNet.Attributes;
using Sd3Mesh.Pipeline.Imaging;

namespace Sd3Mesh.Benchmarks;

/// <summary>
/// Encoding a served job's 1024x1024 PNG (`PngEncoder`): a smooth image with a little noise, as generated photos are,
/// and pure noise (seeded random weights' images), each the same on every run. `-- --filter '*PngEncode*'`; see
/// docs/benchmarks.md.
/// </summary>
[MemoryDiagnoser]
public class PngEncodeBenchmarks
{
    private RgbImage _smooth = null!, _noise = null!;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        const int w = 1024, h = 1024;
        var smooth = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++)
                    smooth[(y * w + x) * 3 + c] = (byte)Math.Clamp(128 + 100 * Math.Sin(x * 0.01 + c) * Math.Cos(y * 0.013) + random.Next(-8, 8), 0, 255);
        var noise = new byte[w * h * 3];
        random.NextBytes(noise);
        (_smooth, _noise) = (new RgbImage(w, h, smooth), new RgbImage(w, h, noise));
    }

    [Benchmark]
    public byte[] Smooth() => PngEncoder.Encode(_smooth);

    [Benchmark]
    public byte[] Noise() => PngEncoder.Encode(_noise);
}
