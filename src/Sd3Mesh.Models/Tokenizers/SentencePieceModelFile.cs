using System.Buffers.Binary;
using System.Text;

namespace Sd3Mesh.Models.Tokenizers;

/// <summary>The kinds of SentencePiece pieces (values as in sentencepiece_model.proto).</summary>
public enum PieceType
{
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>A piece of a SentencePiece model.</summary>
public readonly record struct SentencePiece(string Piece, float Score, PieceType Type);

/// <summary>
/// Reads the parts of SentencePiece's ModelProto (sentencepiece_model.proto, protobuf wire format) that a
/// Unigram tokenizer needs: pieces (piece = 1, score = 2, type = 3), trainer_spec.model_type (3) and
/// treat_whitespace_as_suffix (24), and normalizer_spec (name = 1, precompiled_charsmap = 2,
/// add_dummy_prefix = 3, remove_extra_whitespaces = 4, escape_whitespaces = 5; proto2 defaults true).
/// A hand-written reader of varint, fixed32/64 and length-delimited fields; other fields are skipped.
/// </summary>
public sealed class SentencePieceModelFile
{
    public List<SentencePiece> Pieces { get; } = [];
    public int ModelType { get; private set; } = 1; // UNIGRAM
    public bool TreatWhitespaceAsSuffix { get; private set; }
    public string NormalizerName { get; private set; } = "";
    public byte[]? PrecompiledCharsMap { get; private set; }
    public bool AddDummyPrefix { get; private set; } = true;
    public bool RemoveExtraWhitespaces { get; private set; } = true;
    public bool EscapeWhitespaces { get; private set; } = true;

    public static SentencePieceModelFile Read(string path) => Parse(File.ReadAllBytes(path), path);

    public static SentencePieceModelFile Parse(ReadOnlySpan<byte> bytes, string source = "spiece.model")
    {
        var model = new SentencePieceModelFile();
        try
        {
            var r = new ProtoReader(bytes);
            while (r.Next(out int field, out int wire))
            {
                switch (field)
                {
                    case 1 when wire == 2: model.Pieces.Add(ParsePiece(r.Bytes())); break;
                    case 2 when wire == 2: model.ParseTrainerSpec(r.Bytes()); break;
                    case 3 when wire == 2: model.ParseNormalizerSpec(r.Bytes()); break;
                    default: r.Skip(wire); break;
                }
            }
        }
        catch (Exception e) when (e is IndexOutOfRangeException or ArgumentOutOfRangeException or InvalidDataException)
        {
            throw new InvalidDataException($"{source} is not a SentencePiece model: {e.Message}", e);
        }
        if (model.Pieces.Count == 0) throw new InvalidDataException($"{source} has no pieces: not a SentencePiece model");
        return model;
    }

    private static SentencePiece ParsePiece(ReadOnlySpan<byte> bytes)
    {
        string piece = "";
        float score = 0;
        var type = PieceType.Normal;
        var r = new ProtoReader(bytes);
        while (r.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1 when wire == 2: piece = Encoding.UTF8.GetString(r.Bytes()); break;
                case 2 when wire == 5: score = r.Float(); break;
                case 3 when wire == 0: type = (PieceType)(int)r.Varint(); break;
                default: r.Skip(wire); break;
            }
        }
        return new SentencePiece(piece, score, type);
    }

    private void ParseTrainerSpec(ReadOnlySpan<byte> bytes)
    {
        var r = new ProtoReader(bytes);
        while (r.Next(out int field, out int wire))
        {
            if (field == 3 && wire == 0) ModelType = (int)r.Varint();
            else if (field == 24 && wire == 0) TreatWhitespaceAsSuffix = r.Varint() != 0;
            else r.Skip(wire);
        }
    }

    private void ParseNormalizerSpec(ReadOnlySpan<byte> bytes)
    {
        var r = new ProtoReader(bytes);
        while (r.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1 when wire == 2: NormalizerName = Encoding.UTF8.GetString(r.Bytes()); break;
                case 2 when wire == 2: PrecompiledCharsMap = r.Bytes().ToArray(); break;
                case 3 when wire == 0: AddDummyPrefix = r.Varint() != 0; break;
                case 4 when wire == 0: RemoveExtraWhitespaces = r.Varint() != 0; break;
                case 5 when wire == 0: EscapeWhitespaces = r.Varint() != 0; break;
                default: r.Skip(wire); break;
            }
        }
    }

    /// <summary>Minimal protobuf wire-format reader.</summary>
    private ref struct ProtoReader(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _pos;

        public bool Next(out int field, out int wire)
        {
            if (_pos >= _data.Length) { field = wire = 0; return false; }
            ulong key = Varint();
            field = (int)(key >> 3);
            wire = (int)(key & 7);
            if (field == 0) throw new InvalidDataException($"field number 0 at byte {_pos}");
            return true;
        }

        public ulong Varint()
        {
            ulong value = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                byte b = _data[_pos++];
                value |= (ulong)(b & 0x7F) << shift;
                if ((b & 0x80) == 0) return value;
            }
            throw new InvalidDataException("varint longer than 10 bytes");
        }

        public ReadOnlySpan<byte> Bytes()
        {
            int length = checked((int)Varint());
            if (length < 0 || _pos + length > _data.Length) throw new InvalidDataException($"length {length} at byte {_pos} runs past the end");
            var slice = _data.Slice(_pos, length);
            _pos += length;
            return slice;
        }

        public float Float()
        {
            float f = BinaryPrimitives.ReadSingleLittleEndian(_data[_pos..]);
            _pos += 4;
            return f;
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: Varint(); break;
                case 1: _pos += 8; break;
                case 2: Bytes(); break;
                case 5: _pos += 4; break;
                default: throw new InvalidDataException($"unsupported wire type {wire}");
            }
            if (_pos > _data.Length) throw new InvalidDataException("field runs past the end");
        }
    }
}
