using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Sd3Mesh.Models.Repository;
using Sd3Mesh.Models.Tokenizers;

namespace Sd3Mesh.Models.Tests.Tokenizers;

/// <summary>Reading tokenizer folders: configs' added tokens, refusals with reasons, scalar-value regular expressions.</summary>
public sealed class LoadingTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    private string CopyOf(string folder)
    {
        var target = _dir.Sub(folder);
        Directory.CreateDirectory(target);
        foreach (var f in Directory.GetFiles(Path.Combine(WrittenTokenizers.Root, folder))) File.Copy(f, Path.Combine(target, Path.GetFileName(f)));
        return target;
    }

    /// <summary>
    /// SD3's published tokenizer_2 config declares its special tokens in added_tokens_decoder, &lt;|endoftext|&gt; with
    /// normalized: true: transformers adds them with those flags, so the lower-cased text matches it.
    /// </summary>
    [Fact]
    public void Added_tokens_decoder_flags_are_honoured()
    {
        var dir = CopyOf(RepositoryLayout.TokenizerFolders[1]);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "tokenizer_config.json")))!.AsObject();
        config["added_tokens_decoder"] = new JsonObject
        {
            ["0"] = new JsonObject { ["content"] = "!", ["lstrip"] = false, ["normalized"] = false, ["rstrip"] = false, ["single_word"] = false, ["special"] = true },
            ["49406"] = new JsonObject { ["content"] = "<|startoftext|>", ["lstrip"] = false, ["normalized"] = true, ["rstrip"] = false, ["single_word"] = false, ["special"] = true },
            ["49407"] = new JsonObject { ["content"] = "<|endoftext|>", ["lstrip"] = false, ["normalized"] = true, ["rstrip"] = false, ["single_word"] = false, ["special"] = true },
        };
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), config.ToJsonString());
        var t = TokenizerFolder.Load(dir, TokenizerClass.Clip);
        Assert.Equal([320, 49407, 321], t.TokenIds("A <|ENDOFTEXT|> B"));
        Assert.Equal([320, 49407, 321], WrittenTokenizers.ClipG.TokenIds("A <|endoftext|> B"));
        Assert.NotEqual([320, 49407, 321], WrittenTokenizers.ClipG.TokenIds("A <|ENDOFTEXT|> B"));
        Assert.True(t.Added.Tokens[49407].Normalized);
        Assert.False(t.Added.Tokens[0].Normalized);
    }

    [Fact]
    public void Unsupported_components_and_missing_files_are_named()
    {
        var json = TokenizerJsonBuilder.Tokenizer(TokenizerJsonBuilder.T5Unigram(), TokenizerJsonBuilder.Type("BertNormalizer"));
        var path = TokenizerJsonBuilder.Write(_dir.Path, "bert", json);
        var e = Assert.Throws<InvalidDataException>(() => TokenizerFolder.LoadFile(path));
        Assert.Equal($"{path}: normalizer type 'BertNormalizer' is not supported (supported: NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Replace, Prepend, Precompiled, Sequence)", e.Message);

        json = TokenizerJsonBuilder.Tokenizer(TokenizerJsonBuilder.T5Unigram(), preTokenizer: TokenizerJsonBuilder.Type("Digits"));
        path = TokenizerJsonBuilder.Write(_dir.Path, "digits", json);
        e = Assert.Throws<InvalidDataException>(() => TokenizerFolder.LoadFile(path));
        Assert.Equal($"{path}: pre_tokenizer type 'Digits' is not supported (supported: Metaspace, WhitespaceSplit, ByteLevel, Split, Sequence)", e.Message);

        // transformers' T5 class reads only the vocabulary and a Precompiled charsmap: other normalizers are no obstacle there.
        var t5 = CopyOf(RepositoryLayout.TokenizerFolders[2]);
        var file = JsonNode.Parse(File.ReadAllText(Path.Combine(t5, "tokenizer.json")))!.AsObject();
        file["normalizer"] = TokenizerJsonBuilder.Type("BertNormalizer");
        File.WriteAllText(Path.Combine(t5, "tokenizer.json"), file.ToJsonString());
        Assert.Equal(WrittenTokenizers.T5.TokenIds("a photo of a cat"), TokenizerFolder.Load(t5, TokenizerClass.T5).TokenIds("a photo of a cat"));

        Assert.Throws<FileNotFoundException>(() => TokenizerFolder.Load(_dir.Path, TokenizerClass.Clip));
        var m = Assert.Throws<ModelFormatException>(() => Sd3Tokenizers.Load(_dir.Path));
        Assert.StartsWith("tokenizer/ (CLIPTokenizer) cannot be loaded:", m.Message);
    }

    /// <summary>Outside the BMP a letter is still a letter: each stand-in has its character's general category.</summary>
    [Fact]
    public void Regular_expressions_classify_characters_outside_the_BMP_by_their_category()
    {
        var seen = new Dictionary<UnicodeCategory, int>();
        for (int c = 0x10000; c < 0x110000; c++)
            if (Rune.IsValid(c)) seen.TryAdd(Rune.GetUnicodeCategory(new Rune(c)), c);
        var names = new Dictionary<UnicodeCategory, string>
        {
            [UnicodeCategory.UppercaseLetter] = "Lu", [UnicodeCategory.LowercaseLetter] = "Ll", [UnicodeCategory.TitlecaseLetter] = "Lt",
            [UnicodeCategory.ModifierLetter] = "Lm", [UnicodeCategory.OtherLetter] = "Lo", [UnicodeCategory.NonSpacingMark] = "Mn",
            [UnicodeCategory.SpacingCombiningMark] = "Mc", [UnicodeCategory.EnclosingMark] = "Me", [UnicodeCategory.DecimalDigitNumber] = "Nd",
            [UnicodeCategory.LetterNumber] = "Nl", [UnicodeCategory.OtherNumber] = "No", [UnicodeCategory.ConnectorPunctuation] = "Pc",
            [UnicodeCategory.DashPunctuation] = "Pd", [UnicodeCategory.OpenPunctuation] = "Ps", [UnicodeCategory.ClosePunctuation] = "Pe",
            [UnicodeCategory.InitialQuotePunctuation] = "Pi", [UnicodeCategory.FinalQuotePunctuation] = "Pf", [UnicodeCategory.OtherPunctuation] = "Po",
            [UnicodeCategory.MathSymbol] = "Sm", [UnicodeCategory.CurrencySymbol] = "Sc", [UnicodeCategory.ModifierSymbol] = "Sk",
            [UnicodeCategory.OtherSymbol] = "So", [UnicodeCategory.PrivateUse] = "Co", [UnicodeCategory.Format] = "Cf",
            [UnicodeCategory.SpaceSeparator] = "Zs", [UnicodeCategory.OtherNotAssigned] = "Cn",
        };
        foreach (var (category, c) in seen)
        {
            var regex = new CodePointRegex($@"\p{{{names[category]}}}");
            Assert.True(regex.Matches([c]).SequenceEqual([(0, 1)]), $"U+{c:X} ({category}) is not matched by \\p{{{names[category]}}}");
        }
        Assert.Equal([(0, 2), (3, 4)], new CodePointRegex(@"\p{L}+").Matches(NormalizedText.Runes("𝐀b 東")));
    }
}
