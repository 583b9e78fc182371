// The tokenizer tests' reference peer: Hugging Face tokenizers 0.23.2 (Rust, through its Node binding).
// Reads one JSON request on stdin, writes one JSON response on stdout:
//   {"encode": [{"file": "/path/tokenizer.json", "texts": ["..."], "special": false}],
//    "normalize": [{"normalizer": {"type": "NFKC"}, "texts": ["..."]}],
//    "pretokenize": [{"pre_tokenizer": {"type": "Metaspace"}, "texts": ["..."]}]}
// -> {"encode": [[ids of each text], ...], "normalize": [[normalized text, ...], ...], "pretokenize": [[[piece, ...], ...], ...]}
"use strict";
const { Tokenizer } = require("tokenizers");

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const request = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const cache = new Map();
  const load = (file) => {
    if (!cache.has(file)) cache.set(file, Tokenizer.fromFile(file));
    return cache.get(file);
  };
  const response = { encode: [], normalize: [], pretokenize: [] };
  // A tokenizer that only carries the component under test.
  const bare = (extra) => Tokenizer.fromString(JSON.stringify({
    version: "1.0", ...extra, model: { type: "WordLevel", vocab: { "[UNK]": 0 }, unk_token: "[UNK]" } }));
  for (const c of request.encode || []) {
    const tokenizer = load(c.file);
    const ids = [];
    for (const text of c.texts) ids.push((await tokenizer.encode(text, null, { addSpecialTokens: !!c.special })).getIds());
    response.encode.push(ids);
  }
  for (const c of request.normalize || []) {
    const normalizer = bare({ normalizer: c.normalizer }).getNormalizer();
    response.normalize.push(c.texts.map((t) => normalizer.normalizeString(t)));
  }
  for (const c of request.pretokenize || []) {
    const pre = bare({ pre_tokenizer: c.pre_tokenizer }).getPreTokenizer();
    response.pretokenize.push(c.texts.map((t) => pre.preTokenizeString(t).map(([piece]) => piece)));
  }
  process.stdout.write(JSON.stringify(response));
}

main().catch((e) => { process.stderr.write(String(e && e.stack || e) + "\n"); process.exit(1); });
