using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;
using Sd3Mesh.Models.Repository;
using Sd3Mesh.Models.Tokenizers;

namespace Sd3Mesh.Models.Tests.Tokenizers;

/// <summary>
/// Issue 9's question: can Microsoft.ML.Tokenizers 3.0.0 replace our tokenizers? Its CLIP BPE (BpeTokenizer:
/// byte-level, "&lt;/w&gt;" suffix, special tokens, CLIP's word pattern, its lower-case normalizer) and T5
/// Unigram (SentencePieceTokenizer from tokenizer.json and from spiece.model) run the known-answer cases our
/// tokenizers pass, against the same references. The cases it fails are pinned here and listed in docs/packages.md.
/// </summary>
public class MicrosoftMlTokenizersEvaluation(Xunit.Abstractions.ITestOutputHelper output)
{
    private sealed record Outcome(string Case, string Text, int[] Expected, int[] Actual, string? Error = null)
    {
        public bool Ok => Error is null && Expected.SequenceEqual(Actual);
    }

    private static BpeTokenizer Clip(string dir, bool bangIsSpecial)
    {
        var specials = new Dictionary<string, int> { ["<|startoftext|>"] = 49406, ["<|endoftext|>"] = 49407 };
        if (bangIsSpecial) specials["!"] = 0;
        var (vocab, merges) = TokenizerFolder.ReadVocabAndMerges(dir);
        return BpeTokenizer.Create(new BpeOptions(vocab)
        {
            Merges = merges.Select(m => $"{m.Item1} {m.Item2}"),
            SpecialTokens = specials,
            Normalizer = LowerCaseNormalizer.Instance,
            PreTokenizer = new RegexPreTokenizer(new Regex(TokenizerFolder.ClipWordPattern), specials),
            UnknownToken = "<|endoftext|>",
            ContinuingSubwordPrefix = "",
            EndOfWordSuffix = "</w>",
            ByteLevel = true,
        });
    }

    /// <summary>transformers' row: the ids cut to leave room for BOS/EOS, then BOS ... EOS, then the pad id.</summary>
    private static int[] ClipRow(Tokenizer t, string text, int padId)
    {
        var ids = t.EncodeToIds(text).Take(75).ToList();
        var row = new List<int> { 49406 };
        row.AddRange(ids);
        row.Add(49407);
        while (row.Count < 77) row.Add(padId);
        return [.. row];
    }

    private List<Outcome> Run()
    {
        var outcomes = new List<Outcome>();
        var results = PeerCases.Get();
        string root = WrittenTokenizers.Root;
        var clipL = Clip(Path.Combine(root, RepositoryLayout.TokenizerFolders[0]), bangIsSpecial: false);
        var clipG = Clip(Path.Combine(root, RepositoryLayout.TokenizerFolders[1]), bangIsSpecial: true);

        foreach (var row in ClipTokenizerTests.KnownAnswers)
        {
            var (text, expected) = ((string)row[0], (int[])row[1]);
            outcomes.Add(new Outcome("CLIP-L known answers (transformers.js)", text, expected, [49406, .. clipL.EncodeToIds(text), 49407]));
        }
        foreach (var (name, tokenizer, pad) in new[] { ("CLIP-L row of 77", clipL, 49407), ("CLIP-G row of 77 (pad \"!\" added)", clipG, 0) })
        {
            var (c, ids) = results.Encoded[name];
            for (int i = 0; i < c.Texts.Length; i++) outcomes.Add(new Outcome(name, c.Texts[i], ids[i], ClipRow(tokenizer, c.Texts[i], pad)));
        }

        // T5 from tokenizer.json: the file transformers 5's T5 pipeline amounts to (WhitespaceSplit, Metaspace), and one
        // shaped like SD3's tokenizer_3 (Precompiled nmt_nfkc, Replace, Metaspace), against the tokenizers library on the same file.
        foreach (var name in new[] { "Unigram with WhitespaceSplit then Metaspace", "Unigram with SD3's tokenizer_3 pipeline (Precompiled nmt_nfkc, Replace, Metaspace)" })
        {
            var (c, ids) = results.Encoded[name];
            using var json = File.OpenRead(c.File);
            var t5 = SentencePieceTokenizer.CreateFromTokenizerJson(json, addBeginningOfSentence: false, addEndOfSentence: true);
            for (int i = 0; i < c.Texts.Length; i++) outcomes.Add(new Outcome($"T5 tokenizer.json: {name}", c.Texts[i], ids[i], [.. t5.EncodeToIds(c.Texts[i])]));
        }

        // T5 from a SentencePiece model trained with nmt_nfkc, against transformers 5's T5 pipeline on it.
        using (var model = File.OpenRead(Path.Combine(results.Directory, "spiece.model")))
        {
            var (c, ids) = results.Encoded["Unigram with Precompiled nmt_nfkc only"];
            try
            {
                var t5 = SentencePieceTokenizer.Create(model, addBeginningOfSentence: false, addEndOfSentence: false);
                for (int i = 0; i < c.Texts.Length; i++)
                    if (!c.Texts[i].Contains("<extra_id_")) outcomes.Add(new Outcome("T5 spiece.model (nmt_nfkc)", c.Texts[i], ids[i], [.. t5.EncodeToIds(c.Texts[i])]));
            }
            catch (Exception e) when (e is IndexOutOfRangeException or ArgumentException or InvalidOperationException)
            {
                outcomes.Add(new Outcome("T5 spiece.model (nmt_nfkc)", "(loading)", [], [], $"{e.GetType().Name}: {e.Message}"));
            }
        }
        return outcomes;
    }

    /// <summary>
    /// Measured 2026-12-06 (each failing text, its reference ids and Microsoft.ML.Tokenizers' are printed): CLIP
    /// misses NFC composition, İ's lower case and matches &lt;|ENDOFTEXT|&gt; as a special token; the T5 Unigram
    /// does not fuse unknown characters, drops &lt;/s&gt; on empty text, keeps no trailing "▁", splits special
    /// tokens differently; a T5 spiece.model (no BOS piece) fails to load. If an update changes these counts,
    /// the evaluation is due again.
    /// </summary>
    [Fact]
    public void It_fails_these_cases_so_our_tokenizers_stay()
    {
        var outcomes = Run();
        foreach (var o in outcomes.Where(o => !o.Ok))
            output.WriteLine(o.Error is not null ? $"{o.Case} | {o.Error}"
                : $"{o.Case} | '{PeerTests.Escape(o.Text)}'\n  reference [{string.Join(", ", o.Expected.Take(24))}]\n  ML.Tokenizers [{string.Join(", ", o.Actual.Take(24))}]");
        var passed = outcomes.GroupBy(o => o.Case).Select(g => $"{g.Key}: {g.Count(o => o.Ok)}/{g.Count()}").ToList();
        output.WriteLine(string.Join("\n", passed));
        Assert.Equal(
        [
            "CLIP-L known answers (transformers.js): 23/23",
            "CLIP-L row of 77: 16/20",
            "CLIP-G row of 77 (pad \"!\" added): 16/20",
            "T5 tokenizer.json: Unigram with WhitespaceSplit then Metaspace: 7/14",
            "T5 tokenizer.json: Unigram with SD3's tokenizer_3 pipeline (Precompiled nmt_nfkc, Replace, Metaspace): 2/14",
            "T5 spiece.model (nmt_nfkc): 0/1",
        ], passed);
    }
}
