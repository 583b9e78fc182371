using System.Text.Json;
using Sd3Mesh.Pipeline.Imaging;
using Sd3Mesh.Pipeline.Tests.Support;

namespace Sd3Mesh.Pipeline.Tests.Imaging;

public class PngTests
{
    private static RgbImage Gradient(int w, int h)
    {
        var p = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int i = (y * w + x) * 3;
                p[i] = (byte)(x * 255 / Math.Max(1, w - 1));
                p[i + 1] = (byte)(y * 255 / Math.Max(1, h - 1));
                p[i + 2] = (byte)((x * 31 + y * 17) % 256); // noisy channel: Sub/Up/Paeth all get chosen somewhere
            }
        return new RgbImage(w, h, p);
    }

    [Fact]
    public void Encoded_png_is_read_back_exactly_by_an_independent_python_reader()
    {
        using var tmp = new TempDirectory();
        var image = Gradient(37, 23);
        var metadata = new GenerationMetadata
        {
            Prompt = "a photo of a cat",
            Prompt3 = "un chat sur un tapis, très joli",
            NegativePrompt = "blurry",
            Seed = 12345678901234,
            Steps = 28,
            GuidanceScale = 7.0,
            Width = 37,
            Height = 23,
            Model = "tiny-fp32-seed0",
            Prompt2 = "猫の写真", // not Latin-1: goes to iTXt
        };
        File.WriteAllBytes(tmp.File("a.png"), PngEncoder.Encode(image, metadata.ToTextChunks()));

        var result = JsonDocument.Parse(Python.RunFile("Imaging/png_check.py", tmp.File("a.png"))).RootElement;
        Assert.Equal(37, result.GetProperty("width").GetInt32());
        Assert.Equal(23, result.GetProperty("height").GetInt32());
        Assert.Equal(image.Pixels, Convert.FromBase64String(result.GetProperty("pixels").GetString()!));
        var text = result.GetProperty("text");
        Assert.Equal("a photo of a cat", text.GetProperty("prompt").GetString());
        Assert.Equal("猫の写真", text.GetProperty("prompt_2").GetString());
        Assert.Equal("un chat sur un tapis, très joli", text.GetProperty("prompt_3").GetString());
        Assert.Equal("blurry", text.GetProperty("negative_prompt").GetString());
        Assert.Equal("12345678901234", text.GetProperty("seed").GetString());
        Assert.Equal("28", text.GetProperty("steps").GetString());
        Assert.Equal("7", text.GetProperty("guidance_scale").GetString());
        Assert.Equal("37", text.GetProperty("width").GetString());
        Assert.Equal("23", text.GetProperty("height").GetString());
        Assert.Equal("tiny-fp32-seed0", text.GetProperty("model").GetString());
        Assert.Equal("a photo of a cat\nNegative prompt: blurry\nSteps: 28, Sampler: Euler, Schedule type: Simple, CFG scale: 7, Seed: 12345678901234, Size: 37x23, Model: tiny-fp32-seed0, Shift: 3, Version: Sd3Mesh",
            text.GetProperty("parameters").GetString());
        var filters = result.GetProperty("filters").EnumerateArray().Select(f => f.GetInt32()).ToHashSet();
        Assert.True(filters.Count >= 2, "the per-row heuristic should pick more than one filter type");
        var chunks = result.GetProperty("chunks").EnumerateArray().Select(c => c.GetString()).ToList();
        Assert.Equal(["IHDR", "tEXt", "iTXt", "tEXt"], chunks.Take(4));  // prompt, prompt_2 (UTF-8), prompt_3 (Latin-1)
        Assert.Equal(["IDAT", "IEND"], chunks.TakeLast(2));
    }

    [Fact]
    public void A_large_image_deflated_in_parallel_pieces_is_read_back_exactly_by_python_and_encodes_to_the_same_bytes_again()
    {
        // 640 x 480 RGB: 922 KiB of filtered rows, four pieces; noise in every channel so no piece compresses to nothing.
        using var tmp = new TempDirectory();
        var random = new Random(7);
        var image = Gradient(640, 480);
        for (int i = 0; i < image.Pixels.Length; i += 5) image.Pixels[i] = (byte)random.Next(256);
        var png = PngEncoder.Encode(image);
        File.WriteAllBytes(tmp.File("big.png"), png);

        // Python's zlib checks the stream's Adler-32 and that it ends with the final block.
        var result = JsonDocument.Parse(Python.RunFile("Imaging/png_check.py", tmp.File("big.png"))).RootElement;
        Assert.Equal((640, 480), (result.GetProperty("width").GetInt32(), result.GetProperty("height").GetInt32()));
        Assert.Equal(image.Pixels, Convert.FromBase64String(result.GetProperty("pixels").GetString()!));
        Assert.Equal(image.Pixels, PngDecoder.Decode(png).Image.Pixels);

        // The pieces are fixed by size, not by which threads ran them: encoding again gives the same bytes.
        Assert.Equal(png, PngEncoder.Encode(image));
    }

    [Fact]
    public void Round_trips_through_our_decoder_with_text()
    {
        var image = Gradient(64, 48);
        var png = PngEncoder.Encode(image, [new("prompt", "ünïcode ✓"), new("seed", "1")]);
        var decoded = PngDecoder.Decode(png);
        Assert.Equal(image.Pixels, decoded.Image.Pixels);
        Assert.Equal("ünïcode ✓", decoded.Text["prompt"]);
        Assert.Equal("8-bit RGB", decoded.ColorFormat);
    }

    [Fact]
    public void Reads_every_8_bit_colour_type_and_filter_and_names_unsupported_formats()
    {
        using var tmp = new TempDirectory();
        var expected = JsonDocument.Parse(Python.RunFile("Imaging/png_make.py", tmp.Path)).RootElement;
        foreach (var name in new[] { "rgb.png", "rgba.png", "gray.png", "gray_alpha.png", "palette.png" })
        {
            var png = PngDecoder.Read(tmp.File(name));
            Assert.Equal(13, png.Image.Width);
            Assert.Equal(9, png.Image.Height);
            Assert.True(Convert.FromBase64String(expected.GetProperty(name).GetString()!).AsSpan().SequenceEqual(png.Image.Pixels), name);
            Assert.Equal("made by png_make.py", png.Text["prompt"]);
        }
        Assert.Contains("16-bit RGB PNG is not supported", Assert.Throws<InvalidDataException>(() => PngDecoder.Read(tmp.File("rgb16.png"))).Message);
        Assert.Contains("Adam7-interlaced 8-bit RGB PNG is not supported", Assert.Throws<InvalidDataException>(() => PngDecoder.Read(tmp.File("interlaced.png"))).Message);

        File.WriteAllBytes(tmp.File("photo.jpg"), [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, (byte)'J', (byte)'F', (byte)'I', (byte)'F']);
        Assert.Contains("a JPEG file, not a PNG", Assert.Throws<InvalidDataException>(() => PngDecoder.Read(tmp.File("photo.jpg"))).Message);
        var corrupt = PngEncoder.Encode(Gradient(4, 4));
        corrupt[40] ^= 0xFF;
        Assert.Contains("bad CRC", Assert.Throws<InvalidDataException>(() => PngDecoder.Decode(corrupt)).Message);
        Assert.Contains("cannot read", Assert.Throws<InvalidDataException>(() => PngDecoder.Read(tmp.File("missing.png"))).Message);
    }

    /// <summary><paramref name="png"/> with one more chunk before IEND (length, type, body, CRC).</summary>
    private static byte[] WithChunk(byte[] png, string type, byte[] body)
    {
        var chunk = new byte[12 + body.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(chunk, (uint)body.Length);
        System.Text.Encoding.ASCII.GetBytes(type, chunk.AsSpan(4, 4));
        body.CopyTo(chunk, 8);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(chunk.AsSpan(8 + body.Length), Crc32.Compute(chunk.AsSpan(4, 4 + body.Length)));
        return [.. png.AsSpan(0, png.Length - 12), .. chunk, .. png.AsSpan(png.Length - 12)];
    }

    private static byte[] Deflate(int zeros)
    {
        using var ms = new MemoryStream();
        using (var z = new System.IO.Compression.ZLibStream(ms, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true)) z.Write(new byte[zeros]);
        return ms.ToArray();
    }

    /// <summary>zTXt (keyword, NUL, method) and compressed iTXt (keyword, NUL, flag 1, method, language NUL, translated NUL).</summary>
    [Theory]
    [InlineData("zTXt", new byte[] { (byte)'k', 0, 0 })]
    [InlineData("iTXt", new byte[] { (byte)'k', 0, 1, 0, 0, 0 })]
    public void Compressed_text_chunks_may_not_inflate_past_1_MiB(string type, byte[] header)
    {
        var png = PngEncoder.Encode(Gradient(4, 4));
        var small = PngDecoder.Decode(WithChunk(png, type, [.. header, .. Deflate(1 << 20)]));
        Assert.Equal(1 << 20, small.Text["k"].Length);

        var bomb = WithChunk(png, type, [.. header, .. Deflate((1 << 20) + 1)]);
        Assert.Equal("PNG text chunk 'k' inflates to more than 1 MiB", Assert.Throws<InvalidDataException>(() => PngDecoder.Decode(bomb)).Message);
    }

    [Fact]
    public void Crc32_matches_the_standard_check_value()
    {
        Assert.Equal(0xCBF43926u, Crc32.Compute("123456789"u8)); // the CRC-32 check value
        Assert.Equal(0xAE426082u, Crc32.Compute("IEND"u8));      // every PNG's last four bytes
    }

    [Fact]
    public void Output_files_are_numbered_and_never_overwritten()
    {
        using var tmp = new TempDirectory();
        var first = GeneratedFiles.Write(tmp.Path, [1, 2, 3]);
        var second = GeneratedFiles.Write(tmp.Path, [4]);
        Assert.Equal("sd3_generated_001.png", Path.GetFileName(first));
        Assert.Equal("sd3_generated_002.png", Path.GetFileName(second));
        File.WriteAllBytes(tmp.File("sd3_generated_007.png"), [9]);
        Assert.Equal("sd3_generated_008.png", Path.GetFileName(GeneratedFiles.Write(tmp.Path, [5])));
        Assert.Equal([1, 2, 3], File.ReadAllBytes(first));
        Assert.Equal([9], File.ReadAllBytes(tmp.File("sd3_generated_007.png")));
        Assert.Equal(4, Directory.GetFiles(tmp.Path).Length); // no temporary files left

        var paths = Enumerable.Range(0, 8).AsParallel().Select(i => GeneratedFiles.Write(tmp.Path, [(byte)i])).ToList();
        Assert.Equal(8, paths.Distinct().Count());
    }

    [Fact]
    public void Vae_samples_map_to_bytes_as_diffusers_postprocess()
    {
        Assert.Equal(0, ImageTensors.ToByte(-1f));
        Assert.Equal(255, ImageTensors.ToByte(1f));
        Assert.Equal(0, ImageTensors.ToByte(-3f));
        Assert.Equal(255, ImageTensors.ToByte(7f));
        Assert.Equal(128, ImageTensors.ToByte(0f));   // 0.5 * 255 = 127.5 -> 128 (half to even)
        Assert.Equal(64, ImageTensors.ToByte(-0.5f));  // 0.25 * 255 = 63.75 -> 64
        Assert.Equal(0, ImageTensors.ToByte(float.NaN));
        var pixels = new RgbImage(2, 1, [0, 128, 255, 10, 20, 30]);
        var back = ImageTensors.ToImages(ImageTensors.FromImage(pixels))[0];
        Assert.Equal(pixels.Pixels, back.Pixels);
    }
}
