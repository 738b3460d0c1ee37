#!/usr/bin/env python3
"""Writes model/tokenizer_tables.inc: the Unicode tables of model/tokenizer.c's CLIP
clean-up and pre-tokenizer, from the very libraries open_clip's SimpleTokenizer uses,
so that each table is what the reference computes:
  - letters and numbers: the `regex` module's \\p{L} and \\p{N} (its own Unicode version);
  - lower-casing: Python's str.lower() (one code point to one; U+0130 is special-cased
    in C as Python gives two code points);
  - one-character fixes: ftfy's per-character fixers at their defaults (C1 controls as
    Windows-1252, Latin ligatures, full/half width, curly quotes, line breaks, control
    characters removed), followed by NFC of that one character (canonical singletons
    such as U+212B ANGSTROM SIGN -> U+00C5), except the CJK compatibility ideographs;
  - NFC composition of a starter with a following combining mark: the primary
    composites of unicodedata whose two parts are below U+2000 (Latin, Greek, Cyrillic,
    Vietnamese, Greek extended), and the combining classes of U+0300..U+036F;
  - HTML entities: the html.entities.html5 names of a selected common subset (every
    entity whose value is one Latin-1 character, typographic punctuation and a few
    symbols), with ftfy's upper-case variants.
Usage: python3 tokenizer_tables.py OUT.inc   (needs: pip install regex ftfy)"""
import html
import html.entities
import sys
import unicodedata

import ftfy
import ftfy.fixes as fx
import regex

MAXCP = 0x110000


def ranges(pred):
    out, start = [], None
    for cp in range(MAXCP + 1):
        ok = cp < MAXCP and pred(cp)
        if ok and start is None:
            start = cp
        elif not ok and start is not None:
            out.append((start, cp - 1))
            start = None
    return out


def is_surrogate(cp):
    return 0xD800 <= cp <= 0xDFFF


def class_ranges(pat):
    r = regex.compile(pat, regex.IGNORECASE)  # as open_clip compiles its pattern
    return ranges(lambda cp: not is_surrogate(cp) and r.match(chr(cp)) is not None)


def lower_runs():
    # (lo, hi, delta, step): cp in [lo, hi] with (cp - lo) % step == 0 maps to cp + delta.
    pairs = []
    for cp in range(MAXCP):
        if is_surrogate(cp):
            continue
        lo = chr(cp).lower()
        if len(lo) == 1 and ord(lo) != cp:
            pairs.append((cp, ord(lo) - cp))
    runs = []
    for cp, d in pairs:
        if runs:
            lo, hi, dd, st = runs[-1]
            if dd == d and (st == 0 and cp - hi in (1, 2) or st and cp - hi == st):
                runs[-1] = (lo, cp, d, st or cp - hi)
                continue
        runs.append((cp, cp, d, 0))
    return [(lo, hi, d, st or 1) for lo, hi, d, st in runs]


def char_fix(c):
    t = c
    for f in (fx.fix_c1_controls, fx.fix_latin_ligatures, fx.fix_character_width,
              fx.uncurl_quotes, fx.fix_line_breaks, fx.remove_control_chars):
        t = f(t)
    return unicodedata.normalize("NFC", t)


def char_fixes():
    single, multi = [], []
    for cp in range(MAXCP):
        if is_surrogate(cp) or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F:
            continue  # CJK compatibility ideographs (NFC singletons): left out, see tokenizer.h
        c = chr(cp)
        t = char_fix(c)
        t2 = char_fix(t)  # ftfy loops until nothing changes
        while t2 != t:
            t, t2 = t2, char_fix(t2)
        if t == c:
            continue
        if len(t) == 1:
            single.append((cp, ord(t) - cp))
        else:
            multi.append((cp, [ord(x) for x in t]))
    runs = []  # (lo, hi, delta); delta 0x7fffffff: removed
    for cp, d in single:
        if runs and runs[-1][1] == cp - 1 and runs[-1][2] == d:
            runs[-1] = (runs[-1][0], cp, d)
        else:
            runs.append((cp, cp, d))
    dels = [x for x in multi if not x[1]]
    multi = [x for x in multi if x[1]]
    for cp, _ in dels:
        if runs and runs[-1][1] == cp - 1 and runs[-1][2] == 0x7fffffff:
            runs[-1] = (runs[-1][0], cp, 0x7fffffff)
        else:
            runs.append((cp, cp, 0x7fffffff))
    runs.sort()
    return runs, multi


def compositions():
    out = []
    for c in range(0x2000):
        d = unicodedata.decomposition(chr(c))
        if not d or d.startswith("<"):
            continue
        parts = [int(x, 16) for x in d.split()]
        if len(parts) != 2 or max(parts) >= 0x2000 or 0x500 <= c < 0x1E00 or c >= 0x1F00:
            continue
        if unicodedata.normalize("NFC", chr(parts[0]) + chr(parts[1])) != chr(c):
            continue  # composition exclusions
        out.append((parts[0], parts[1], c))
    return sorted(out)


COMMON = """amp lt gt quot apos nbsp copy reg trade hellip mdash ndash lsquo rsquo ldquo
rdquo sbquo bdquo laquo raquo lsaquo rsaquo bull middot deg plusmn times divide euro
pound yen cent sect para iexcl iquest shy micro prime Prime dagger Dagger permil
frac12 frac14 frac34 larr rarr uarr darr harr hearts spades clubs diams star starf
check checkmark cross infin ne le ge asymp minus sum prod radic alpha beta gamma delta
epsilon pi sigma omega Omega Delta mu lambda theta emsp ensp thinsp zwj zwnj""".split()


def entities():
    h5 = html.entities.html5
    names = set(COMMON)
    for name, val in h5.items():
        if len(val) == 1 and ord(val) <= 0xFF:
            names.add(name.rstrip(";"))
    out = {}
    for name, val in h5.items():
        if name.rstrip(";") in names:
            out[name] = (val, 1)
            # ftfy's upper-case variants (only in its pass, only with ';')
            if name.endswith(";") and name == name.lower():
                up = name.upper()
                if html.unescape("&" + up) == "&" + up:
                    out[up] = (val.upper(), 2)
    return sorted(out.items())


def cstr(s):
    return '"' + "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "\\x%02x" % ord(c)
                         for c in s) + '"'


def utf8_cstr(s):
    b = s.encode("utf-8")
    return '"' + "".join(chr(x) if 32 <= x < 127 and chr(x) not in '"\\?' else "\\%03o" % x
                         for x in b) + '"'


def main():
    out = sys.argv[1]
    L = class_ranges(r"\p{L}")
    N = class_ranges(r"\p{N}")
    # characters that no alternative of the pattern matches (U+0345 folds to a letter
    # under IGNORECASE, so [^\s\p{L}\p{N}] refuses it while \p{L} does not take it):
    # open_clip's findall skips them
    other = regex.compile(r"[^\s\p{L}\p{N}]", regex.IGNORECASE)
    lr = regex.compile(r"[\p{L}]", regex.IGNORECASE)
    nr = regex.compile(r"[\p{N}]", regex.IGNORECASE)
    sp = regex.compile(r"\s")
    skipped = ranges(lambda cp: not is_surrogate(cp) and not other.match(chr(cp)) and not
                     lr.match(chr(cp)) and not nr.match(chr(cp)) and not sp.match(chr(cp)))
    low = lower_runs()
    fixr, fixm = char_fixes()
    comp = compositions()
    ccc = [unicodedata.combining(chr(c)) for c in range(0x300, 0x370)]
    ents = entities()
    w = []
    w.append("/* Generated by scripts/reference/tokenizer_tables.py (Python %s, unicodedata %s, "
             "regex %s, ftfy %s); do not edit. Included by model/tokenizer.c only. */"
             % (sys.version.split()[0], unicodedata.unidata_version, regex.__version__,
                ftfy.__version__))

    def rng(name, rs):
        w.append("static const uint32_t %s[][2] = { /* %d ranges */" % (name, len(rs)))
        line = ""
        for lo, hi in rs:
            item = "{0x%x,0x%x}," % (lo, hi)
            if len(line) + len(item) > 92:
                w.append(line)
                line = ""
            line += item
        w.append(line)
        w.append("};")
    rng("tok_letter", L)
    rng("tok_number", N)
    rng("tok_skipped", skipped)

    def rows(decl, n, items):
        w.append("%s = { /* %d */" % (decl, n))
        line = ""
        for item in items:
            if len(line) + len(item) > 92:
                w.append(line)
                line = ""
            line += item
        w.append(line)
        w.append("};")
    rows("static const int32_t tok_lower[][4]", len(low),
         ["{0x%x,0x%x,%d,%d}," % r for r in low])
    rows("static const int32_t tok_fix[][3]", len(fixr),
         ["{0x%x,0x%x,%s}," % (lo, hi, "TOK_DEL" if d == 0x7fffffff else str(d))
          for lo, hi, d in fixr])
    assert all(len(t) <= 3 for _, t in fixm)
    rows("static const uint32_t tok_fix_multi[][4]", len(fixm),
         ["{0x%x,%s}," % (cp, ",".join("0x%x" % x for x in (t + [0, 0])[:3])) for cp, t in fixm])
    rows("static const uint16_t tok_compose[][3]", len(comp),
         ["{0x%x,0x%x,0x%x}," % r for r in comp])
    rows("static const uint8_t tok_ccc[0x70]", 0x70, ["%d," % c for c in ccc])
    rows("static const tok_entity tok_entities[]", len(ents),
         ["{%s,%s,%d}," % (cstr(n), utf8_cstr(v), f) for n, (v, f) in ents])
    open(out, "w").write("\n".join(w) + "\n")
    print("%s: %d letter ranges, %d number ranges, %d lower runs, %d fixes (+%d multi), "
          "%d compositions, %d entities, %d skipped" % (out, len(L), len(N), len(low), len(fixr), len(fixm),
                                           len(comp), len(ents), len(skipped)))


main()
