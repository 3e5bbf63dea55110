import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GptEncoding } from "gpt-tokenizer/GptEncoding";
import o200kBase from "gpt-tokenizer/bpeRanks/o200k_base";
import { afterAll, describe, expect, it } from "vitest";
import { BpeCounter } from "../../src/usage/bpe";

// The compact counter against gpt-tokenizer's own encoder (itself checked against tiktoken by its
// authors), both on o200k_base: every count must be equal.
const require = createRequire(import.meta.url);
const { O200K_TOKEN_SPLIT_REGEX } = require("gpt-tokenizer/encodingParams/constants") as { O200K_TOKEN_SPLIT_REGEX: RegExp };
const counter = BpeCounter.fromTiktokenFile(require.resolve("gpt-tokenizer/data/o200k_base.tiktoken"), O200K_TOKEN_SPLIT_REGEX);
const reference = GptEncoding.getEncodingApi("o200k_base", () => o200kBase);
const exact = (text: string) => reference.encode(text, { disallowedSpecial: new Set() }).length;

const dir = mkdtempSync(join(tmpdir(), "bpe-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A vocabulary file from token strings in rank order (an empty string: a rank the file skips). */
function vocabulary(tokens: string[], eol = "\n"): string {
  const path = join(dir, `v${Math.random().toString(36).slice(2)}.tiktoken`);
  const lines = tokens.flatMap((t, rank) => (t === "" ? [] : [`${Buffer.from(t).toString("base64")} ${rank}`]));
  writeFileSync(path, lines.join(eol) + eol);
  return path;
}

describe("BpeCounter on o200k_base", () => {
  it("counts as gpt-tokenizer does on real text: this repository's README, a source file, a config", () => {
    const sources = ["README.md", "src/usage/bpe.ts", "config/example.yaml"].map((f) => readFileSync(f, "utf8"));
    let pieces = 0;
    for (const source of sources) {
      for (let at = 0; at < source.length; at += 3_001) {
        const text = source.slice(at, at + 3_000);
        expect(counter.count(text), JSON.stringify(text.slice(0, 80))).toBe(exact(text));
        pieces++;
      }
    }
    expect(pieces).toBeGreaterThan(40);
  });

  it("counts as gpt-tokenizer does on 3,000 random texts of every kind of character", () => {
    // Seeded, so a failure names a text that fails again.
    let seed = 20261207;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
      return (seed >>> 8) % n;
    };
    const alphabets = [
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
      "0123456789",
      " \t\n\r\u00a0\u2003\u3000",
      "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
      "àéîõüçñßøåÆŒ", // Latin-1 and beyond
      "速い茶色の狐が怠け者の犬を飛び越える", // CJK and kana
      "мамаπλάτοςعربيةहिन्दी", // Cyrillic, Greek, Arabic, Devanagari
      "\u0301\u0308\u0327\u200d\ufe0f", // combining marks, ZWJ, variation selector
      "🦊🎉👩‍💻🇫🇷", // surrogate pairs and sequences
      "\ud800\udfff\udc00", // lone and reversed surrogates (encoded as U+FFFD)
      "\u0000\u0001\u007f\ufffd\uffff",
    ];
    const words = ["<|endoftext|>", "<|im_start|>", "'s", "'ll", "don't", "HTTP", "JSONParser", "x86_64", "1234567", "////", "\r\n\r\n"];
    for (let i = 0; i < 3_000; i++) {
      let text = "";
      const length = rand(120);
      while (text.length < length) {
        if (rand(8) === 0) text += words[rand(words.length)];
        else {
          const alphabet = alphabets[rand(alphabets.length)]!;
          const chars = [...alphabet];
          for (let run = 1 + rand(12); run > 0; run--) text += chars[rand(chars.length)];
        }
      }
      expect(counter.count(text), JSON.stringify(text)).toBe(exact(text));
    }
  });

  it("counts long pieces (the heap merge, over 128 bytes) as gpt-tokenizer does", () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
      return (seed >>> 8) % n;
    };
    const pick = (chars: string[], n: number) => Array.from({ length: n }, () => chars[rand(chars.length)]).join("");
    const cjk = Array.from({ length: 3_000 }, (_, i) => String.fromCharCode(0x4e00 + i * 7));
    const texts = [
      pick(cjk, 128), // one 384-byte piece
      pick(cjk, 300),
      pick([..."🦊🎉👩‍💻🇫🇷"], 90),
      pick([..."abcdefghijklmnopqrstuvwxyz"], 200), // lower-case letters: one piece
      `x${pick([..."\u0301\u0308\u0327"], 150)}`, // a letter and 150 combining marks
      Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 2_654_435_761) % 256)).toString("base64"),
      "ab".repeat(200),
      "the".repeat(100),
      " ".repeat(300),
      "\n".repeat(250),
      pick([..."!@#$%^&*()"], 200),
    ];
    for (let i = 0; i < 40; i++) texts.push(pick([...cjk.slice(0, 40), ..."ぁあぃいぅうぇえ"], 20 + rand(200)));
    for (const text of texts) expect(counter.count(text), JSON.stringify(text.slice(0, 40))).toBe(exact(text));
  });

  it("counts repeated pieces the same as the first time (the merge cache), beyond its size", () => {
    const words = Array.from({ length: 10_000 }, (_, i) => `zq${i.toString(36)}xv`);
    const text = words.join(" ");
    const first = counter.count(text);
    expect(first).toBe(exact(text));
    expect(counter.count(text)).toBe(first);
  });
});

describe("BpeCounter's merge and its vocabulary file", () => {
  const whole = /[\s\S]+/gu; // one piece: the merge alone decides

  it("merges the lowest-ranked pair first, leftmost on a tie, and re-ranks its neighbours", () => {
    // ranks: a b c d, then ab, bc, abc, cd
    const c = BpeCounter.fromTiktokenFile(vocabulary(["a", "b", "c", "d", "ab", "bc", "abc", "cd"]), whole);
    expect(c.count("abc")).toBe(1); // a token itself
    expect(c.count("abca")).toBe(2); // ab first (rank 4 < bc's 5), then ab+c = abc: [abc, a]
    expect(c.count("bcd")).toBe(2); // bc (5) before cd (7): [bc, d]
    expect(c.count("abab")).toBe(2); // [ab, ab]
    expect(c.count("dcba")).toBe(4); // no pair is a token
    expect(c.count("")).toBe(0);
    // the left neighbour re-ranked after a merge: cd first, then b+cd is a token
    const left = BpeCounter.fromTiktokenFile(vocabulary(["a", "b", "c", "d", "cd", "bcd"]), whole);
    expect(left.count("abcd")).toBe(2); // [a, bcd]
    expect(left.count("bcdbcd")).toBe(2);
  });

  it("reads CRLF lines, ranks the file skips, and lines in any order", () => {
    const path = vocabulary(["a", "", "b", "ab"], "\r\n");
    const c = BpeCounter.fromTiktokenFile(path, whole);
    expect(c.count("ab")).toBe(1);
    expect(c.count("aab")).toBe(2);
    const shuffled = join(dir, "shuffled.tiktoken");
    writeFileSync(shuffled, ["YWI= 3", "YQ== 0", "Yg== 2"].join("\n"));
    expect(BpeCounter.fromTiktokenFile(shuffled, whole).count("abab")).toBe(2);
  });

  it("refuses a broken file by name: no rank, a bad rank, bad base64, a repeated rank, no tokens", () => {
    const bad = (name: string, text: string) => {
      const path = join(dir, name);
      writeFileSync(path, text);
      return () => BpeCounter.fromTiktokenFile(path, whole);
    };
    expect(bad("norank", "YQ== 0\nYg==\n")).toThrow(/line without a rank at byte 7/);
    expect(bad("badrank", "YQ== x\n")).toThrow(/invalid rank at byte 5/);
    expect(bad("hugerank", "YQ== 99999999999\n")).toThrow(/invalid rank/);
    expect(bad("base64", "Y!== 0\n")).toThrow(/invalid base64 byte 33 at 1/);
    expect(bad("twice", "YQ== 0\nYg== 0\n")).toThrow(/rank 0 appears twice/);
    expect(bad("empty", "\n")).toThrow(/no tokens/);
  });
});
