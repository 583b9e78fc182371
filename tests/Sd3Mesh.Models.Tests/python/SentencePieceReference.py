# Reference for the T5 tokenizer tests, run with Debian's /usr/bin/python3 (python3-sentencepiece).
# Trains a small Unigram model with T5's settings (nmt_nfkc normalization, <pad>=0, </s>=1, <unk>=2,
# no BOS), writes it as spiece.model and as a Hugging Face tokenizer.json (same pieces and charsmap),
# then prints SentencePiece's own ids for each test text as JSON.
import base64, io, json, os, sys
import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as pb

out = sys.argv[1]
texts = json.loads(sys.argv[2])
corpus = [
    "a photo of a cat sitting on a red chair",
    "the quick brown fox jumps over the lazy dog",
    "an astronaut riding a horse on the moon, digital art",
    "A painting of a lighthouse at sunset by the sea",
    "portrait of an old man with a beard, oil on canvas, 4k",
    "Cats and dogs playing together in the garden",
    "a bowl of fruit: apples, oranges and bananas",
    "highly detailed fantasy landscape with mountains and rivers",
    "The city at night, neon lights, rain, cinematic",
    "a small wooden house in the forest during winter",
] * 40
buf = io.BytesIO()
spm.SentencePieceTrainer.train(
    sentence_iterator=iter(corpus), model_writer=buf, vocab_size=220, model_type="unigram",
    normalization_rule_name="nmt_nfkc", character_coverage=1.0, hard_vocab_limit=False,
    pad_id=0, eos_id=1, unk_id=2, bos_id=-1, minloglevel=2)
model = buf.getvalue()
with open(os.path.join(out, "spiece.model"), "wb") as f:
    f.write(model)

proto = pb.ModelProto()
proto.ParseFromString(model)
specials = [i for i, p in enumerate(proto.pieces) if p.type in (2, 3)]
tokenizer_json = {
    "version": "1.0",
    "added_tokens": [{"id": i, "content": proto.pieces[i].piece, "special": True, "normalized": False,
                      "single_word": False, "lstrip": False, "rstrip": False} for i in specials],
    "normalizer": {"type": "Sequence", "normalizers": [
        {"type": "Precompiled", "precompiled_charsmap": base64.b64encode(proto.normalizer_spec.precompiled_charsmap).decode()},
        {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
    "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
    "model": {"type": "Unigram", "unk_id": 2, "vocab": [[p.piece, p.score] for p in proto.pieces], "byte_fallback": False},
}
os.makedirs(os.path.join(out, "json"), exist_ok=True)
with open(os.path.join(out, "json", "tokenizer.json"), "w", encoding="utf-8") as f:
    json.dump(tokenizer_json, f, ensure_ascii=False)

sp = spm.SentencePieceProcessor(model_proto=model)
print(json.dumps({
    "ids": [sp.encode(t) for t in texts],
    "pieces": [sp.encode(t, out_type=str) for t in texts],
    "size": sp.get_piece_size(),
}))
