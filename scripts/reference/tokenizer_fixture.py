#!/usr/bin/env python3
"""Writes the fixtures of tests/test_tokenizer.c from open_clip's own tokenizer
(open_clip/tokenizer.py, SimpleTokenizer with clean='lower', the tokenizer of
open_clip.tokenize), which model/tokenizer.c matches:
  tests/data/tokenizer/clip-merges-300.txt  the header and first 300 merges of
      bpe_simple_vocab_16e6.txt.gz (a smaller, valid BPE: vocabulary 512 + 300 + 1
      + 2; the file's final newline gives one empty merge, as open_clip reads it);
  tests/data/tokenizer/clip-cases.txt       the sentences and, for each, the ids of the
      small vocabulary and of the full one (the real file is not committed: the test
      reads it from FMRT_CLIP_VOCAB and skips without it).
Format of clip-cases.txt, one case per three lines:
  T <ctx> <text, C escapes: \\n \\t \\\\ \\xHH for other bytes below 0x20 and 0x7f>
  S <ids with the small vocabulary, up to the last non-pad id>
  F <ids with the full vocabulary, likewise>
Padding (0, as open_clip pads) up to ctx is implied.
Usage: python3 tokenizer_fixture.py [OUT_DIR]
Needs: python3 -m venv /tmp/tokvenv && /tmp/tokvenv/bin/pip install open_clip_torch ftfy
regex wcwidth (torch may come from another environment: PYTHONPATH=.../site-packages)."""
import gzip
import importlib.util
import os
import sys


OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), "..", "..", "tests", "data", "tokenizer")
NMERGES = 300

CASES = [
    (77, "a photo of a cat"),
    (77, "A Photo Of A CAT!!!"),
    (77, "  leading and trailing   spaces\t\tand\ttabs\nnew line  "),
    (77, "it's the dog's toy; they're here, we've gone, I'm ok, you'll see, he'd go"),
    (77, "it\u2019s a \u201ccurly\u201d quote \u2014 and an en\u2013dash\u2026"),
    (77, "numbers 12345 and 3.14159, 1st 2nd 3rd 100%"),
    (77, "caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00c5ngstr\u00f6m Stra\u00dfe"),
    (77, "cafe\u0301 nai\u0308ve A\u0323\u0308 vie\u0323\u0302t"),
    (77, "\u0391\u0392\u0393 \u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac "
         "\u041a\u0438\u0440\u0438\u043b\u043b\u0438\u0446\u0430 \u041f\u0420\u0418\u0412\u0415\u0422"),
    (77, "emoji \U0001F600\U0001F389 \U0001F44D\U0001F3FD and \u2764\ufe0f"),
    (77, "\u4e2d\u6587\u5b57\u7b26 \u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8 "
         "\ud55c\uad6d\uc5b4"),
    (77, "Tom &amp; Jerry &lt;3 &quot;quoted&quot; &eacute;t&eacute; &#233;&#x263A; "
         "&amp;amp; &nbsp;x &EACUTE; &ldquo;hi&rdquo; &notin &copy2024"),
    (77, "<b>bold</b> &amp; &ldquo;tags&rdquo;"),
    (77, "fullwidth \uff21\uff22\uff23\uff11\uff12\uff13 and ligature \ufb01ne \ufb02ower"),
    (77, "mixed_snake-case and CamelCase URL https://example.com/a?b=c&d=e"),
    (77, "\u0130stanbul D\u0130YARBAKIR"),
    (77, "<start_of_text>hello<END_OF_TEXT> world"),
    (77, "a very long prompt " * 20),
    (77, "antidisestablishmentarianism " * 12),
    (77, ""),
    (77, " \t\n "),
    (77, "control\x07chars\x1b[31mred\x1b[0m and zero\u200bwidth\ufeff"),
    (77, "\u216b \u00bd \u00b2 \u0663 digits"),
    (77, "don't won't can't 'quoted' ''s 'S"),
    (77, "tab\u00a0nbsp\u3000ideographic\u2028line"),
    (77, "o\ufb00\u0085line \u2126mega \u212b"),
    (8, "a photo of a cat on a mat"),
    (3, "hello world"),
    (2, "hello"),
]


def load_simple_tokenizer():
    # open_clip/__init__ imports torchvision; its tokenizer.py needs only torch.
    pkg = importlib.util.find_spec("open_clip").submodule_search_locations[0]
    path = os.path.join(pkg, "tokenizer.py")
    spec = importlib.util.spec_from_file_location("oc_tokenizer", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def esc(s):
    out = []
    for b in s.encode("utf-8"):
        c = chr(b)
        if c == "\\":
            out.append("\\\\")
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif b < 0x20 or b == 0x7F:
            out.append("\\x%02x" % b)
        else:
            out.append(c)
    return "".join(out).encode("latin-1").decode("utf-8")


def ids_line(tok, text, ctx):
    row = [int(x) for x in tok(text, context_length=ctx)[0]]
    while row and row[-1] == 0:
        row.pop()
    return " ".join(map(str, row))


def main():
    mod = load_simple_tokenizer()
    full_path = mod.default_bpe()
    lines = gzip.open(full_path).read().decode("utf-8").split("\n")
    os.makedirs(OUT, exist_ok=True)
    small_txt = os.path.join(OUT, "clip-merges-%d.txt" % NMERGES)
    with open(small_txt, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines[: NMERGES + 1]) + "\n")
    small_gz = "/tmp/clip-merges-%d.txt.gz" % NMERGES
    with gzip.open(small_gz, "wb") as f:
        f.write(open(small_txt, "rb").read())
    small = mod.SimpleTokenizer(small_gz)
    full = mod.SimpleTokenizer(full_path)
    print("small: vocab %d sot %d eot %d; full: vocab %d sot %d eot %d" % (
        small.vocab_size, small.sot_token_id, small.eot_token_id, full.vocab_size,
        full.sot_token_id, full.eot_token_id))
    with open(os.path.join(OUT, "clip-cases.txt"), "w", encoding="utf-8", newline="\n") as f:
        for ctx, text in CASES:
            f.write("T %d %s\n" % (ctx, esc(text)))
            f.write("S %s\n" % ids_line(small, text, ctx))
            f.write("F %s\n" % ids_line(full, text, ctx))
    print("wrote", small_txt, "and clip-cases.txt; the full vocabulary is", full_path)


main()
