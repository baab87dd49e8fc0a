#!/usr/bin/env python3
"""Generates shared/domain/data/libphonenumber_number_types.txt: the number ranges that
libphonenumber classifies as premium rate, shared cost, personal number, UAN or pager, as a
compact prefix table (docs/calling-compliance.md, "Number types").

Input: libphonenumber's resources/PhoneNumberMetadata.xml. The `phonenumber` crate on
crates.io ships it unchanged as assets/PhoneNumberMetadata.xml, so after a `cargo fetch` of a
project that depends on it, the file is in ~/.cargo/registry/src/*/phonenumber-*/assets/.
Only Python's standard library is used.

    python3 tools/gen_number_types.py [--metadata PATH] [--release v9.0.33] \
        [--out shared/domain/data/libphonenumber_number_types.txt]

What it computes is libphonenumber's own `getNumberType` for every national number of every
geographic calling code (the non-geographic codes, region "001", are refused as a whole by
`domain::destination`):

1. the region of the number: the only region of its calling code, else the first region (the
   main country first, then the others in file order) whose `leadingDigits` match the start
   of the number or, for a region without them, under whose metadata the number has a type;
2. its type under that region's metadata: nothing unless the general description matches,
   then the first of premiumRate, tollFree, sharedCost, voip, personalNumber, pager, uan,
   voicemail, fixedLine, mobile whose pattern matches the whole national number (and whose
   possibleLengths, when given, include its length).

Every pattern is compiled to an automaton over the ten digits; the automata of one calling
code run together, digit by digit, and only while a refused type's pattern can still match.
Equal futures are merged (a state is identified by what it classifies for every suffix), so
the ranges come out as the shortest prefixes after which the type no longer depends on the
digits, only on the length. Digits with equal futures are written as one class.

Output, one line per range, sorted:

    <calling code>|<prefix>|<national lengths>|<type>

`<prefix>` is a sequence of digits and classes (`9[01]`, `900[2-9]`) that the national
significant number (the digits after the calling code, as in E.164) must start with;
`<national lengths>` is a comma list of lengths or ranges of them (`10`, `9-11`). Ranges do
not overlap: a number matches at most one line.

Before it writes, the table is checked against a direct evaluation of the same rules with
Python's `re` on every example number of the metadata and on numbers drawn at random from
every range and around it; any difference stops the script.
"""

import argparse
import glob
import os
import random
import re
import sys
import xml.etree.ElementTree as ET

REFUSED = {
    "premiumRate": "premium_rate",
    "sharedCost": "shared_cost",
    "personalNumber": "personal_number",
    "uan": "uan",
    "pager": "pager",
}
# getNumberTypeHelper's order (PhoneNumberUtil.java).
ORDER = [
    "premiumRate",
    "tollFree",
    "sharedCost",
    "voip",
    "personalNumber",
    "pager",
    "uan",
    "voicemail",
    "fixedLine",
    "mobile",
]
DIGITS = "0123456789"
MAX_E164_DIGITS = 15


# ---------------------------------------------------------------- patterns -> automata


class Parser:
    """The regex subset libphonenumber's patterns use: digits, `\\d`, classes with ranges,
    `(?:...)`, `|`, and the quantifiers `?`, `{n}`, `{n,m}`, `{n,}`."""

    def __init__(self, text):
        self.s = text
        self.i = 0

    def parse(self):
        node = self.alt()
        if self.i != len(self.s):
            raise ValueError(f"unexpected {self.s[self.i:]!r} in {self.s!r}")
        return node

    def peek(self):
        return self.s[self.i] if self.i < len(self.s) else None

    def alt(self):
        branches = [self.seq()]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.seq())
        return ("alt", branches)

    def seq(self):
        items = []
        while self.peek() not in (None, "|", ")"):
            items.append(self.quantified())
        return ("seq", items)

    def quantified(self):
        atom = self.atom()
        while True:
            c = self.peek()
            if c == "?":
                self.i += 1
                atom = ("rep", atom, 0, 1)
            elif c == "{":
                end = self.s.index("}", self.i)
                body = self.s[self.i + 1 : end]
                self.i = end + 1
                if "," in body:
                    lo, hi = body.split(",")
                    atom = ("rep", atom, int(lo), int(hi) if hi else None)
                else:
                    atom = ("rep", atom, int(body), int(body))
            else:
                return atom

    def atom(self):
        c = self.peek()
        if c == "(":
            if not self.s.startswith("(?:", self.i):
                raise ValueError(f"capturing group in {self.s!r}")
            self.i += 3
            node = self.alt()
            if self.peek() != ")":
                raise ValueError(f"unclosed group in {self.s!r}")
            self.i += 1
            return node
        if c == "[":
            end = self.s.index("]", self.i)
            body = self.s[self.i + 1 : end]
            self.i = end + 1
            digits = set()
            j = 0
            while j < len(body):
                if j + 2 < len(body) and body[j + 1] == "-":
                    digits.update(str(d) for d in range(int(body[j]), int(body[j + 2]) + 1))
                    j += 3
                elif body.startswith("\\d", j):
                    digits.update(DIGITS)
                    j += 2
                else:
                    if body[j] not in DIGITS:
                        raise ValueError(f"class {body!r} in {self.s!r}")
                    digits.add(body[j])
                    j += 1
            return ("set", frozenset(digits))
        if self.s.startswith("\\d", self.i):
            self.i += 2
            return ("set", frozenset(DIGITS))
        if c is not None and c in DIGITS:
            self.i += 1
            return ("set", frozenset(c))
        raise ValueError(f"unexpected {c!r} at {self.i} in {self.s!r}")


class Nfa:
    """Thompson automaton: states are ints; `moves[s]` is a list of (digit set, target),
    `eps[s]` a list of targets."""

    def __init__(self):
        self.moves = []
        self.eps = []

    def state(self):
        self.moves.append([])
        self.eps.append([])
        return len(self.moves) - 1

    def build(self, node, start):
        """Adds `node` after `start`; returns its end state."""
        kind = node[0]
        if kind == "set":
            end = self.state()
            self.moves[start].append((node[1], end))
            return end
        if kind == "seq":
            cur = start
            for item in node[1]:
                cur = self.build(item, cur)
            return cur
        if kind == "alt":
            end = self.state()
            for branch in node[1]:
                s = self.state()
                self.eps[start].append(s)
                self.eps[self.build(branch, s)].append(end)
            return end
        if kind == "rep":
            _, inner, lo, hi = node
            cur = start
            for _ in range(lo):
                cur = self.build(inner, cur)
            if hi is None:
                loop = self.state()
                self.eps[cur].append(loop)
                self.eps[self.build(inner, loop)].append(loop)
                return loop
            end = self.state()
            self.eps[cur].append(end)
            for _ in range(hi - lo):
                cur = self.build(inner, cur)
                self.eps[cur].append(end)
            return end
        raise ValueError(kind)

    def closure(self, states):
        out = set(states)
        todo = list(states)
        while todo:
            s = todo.pop()
            for t in self.eps[s]:
                if t not in out:
                    out.add(t)
                    todo.append(t)
        return frozenset(out)


class Matcher:
    """One pattern as an automaton: full match (`prefix=False`) or a match at the start of
    the number (`prefix=True`, Java's lookingAt)."""

    def __init__(self, pattern, prefix=False, lengths=None):
        self.pattern = pattern
        self.prefix = prefix
        self.lengths = lengths
        self.nfa = Nfa()
        s = self.nfa.state()
        self.accept = self.nfa.build(Parser(pattern).parse(), s)
        self.start = self.nfa.closure([s])
        self.cache = {}

    def step(self, states, digit):
        """`states` is a frozenset, or True once a prefix matcher has matched."""
        if states is True:
            return True
        key = (states, digit)
        hit = self.cache.get(key)
        if hit is None:
            nxt = [t for s in states for (ds, t) in self.nfa.moves[s] if digit in ds]
            hit = self.nfa.closure(nxt)
            if self.prefix and self.accept in hit:
                hit = True
            self.cache[key] = hit
        return hit

    def initial(self):
        if self.prefix and self.accept in self.start:
            return True
        return self.start

    def alive(self, states):
        return states is True or bool(states)

    def matches(self, states, length):
        if states is True:
            return True
        if self.lengths is not None and length not in self.lengths:
            return False
        return self.accept in states


# ---------------------------------------------------------------- metadata


def clean(text):
    return re.sub(r"\s", "", text or "")


def parse_lengths(text):
    """possibleLengths' `national` attribute: `10`, `[9-11]`, `8,10`, `[6-8],10`."""
    out = set()
    for part in re.findall(r"\[\d+-\d+\]|\d+", text):
        if part.startswith("["):
            lo, hi = part[1:-1].split("-")
            out.update(range(int(lo), int(hi) + 1))
        else:
            out.add(int(part))
    return out


class Region:
    def __init__(self, el):
        self.id = el.get("id")
        self.code = el.get("countryCode")
        self.main = el.get("mainCountryForCode") == "true"
        self.leading = el.get("leadingDigits")
        self.general = None
        self.descs = []  # (type tag, pattern, lengths or None), in ORDER
        general = el.find("generalDesc/nationalNumberPattern")
        if general is not None:
            self.general = clean(general.text)
        for tag in ORDER:
            d = el.find(tag)
            if d is None:
                continue
            p = d.find("nationalNumberPattern")
            if p is None:
                continue
            pl = d.find("possibleLengths")
            lengths = None
            if pl is not None and pl.get("national"):
                lengths = parse_lengths(pl.get("national"))
            self.descs.append((tag, clean(p.text), lengths))
        self.examples = []
        for tag in ORDER:
            e = el.find(f"{tag}/exampleNumber")
            if e is not None and e.text:
                self.examples.append((tag, e.text.strip()))


def load(path):
    root = ET.parse(path).getroot()
    by_code = {}
    for el in root.find("territories"):
        r = Region(el)
        if r.id == "001" or r.general is None:
            continue
        by_code.setdefault(r.code, []).append(r)
    for regions in by_code.values():
        regions.sort(key=lambda r: not r.main)  # stable: main country first, then file order
    return by_code


# ---------------------------------------------------------------- classification


class Code:
    """The automata of one calling code's regions, run together."""

    def __init__(self, code, regions):
        self.code = code
        self.regions = regions
        self.max_len = MAX_E164_DIGITS - len(code)
        self.parts = []  # (region index, role, tag or None, Matcher)
        for ri, r in enumerate(regions):
            self.parts.append((ri, "general", None, Matcher(r.general)))
            if r.leading and len(regions) > 1:
                self.parts.append((ri, "leading", None, Matcher(clean(r.leading), prefix=True)))
            for tag, pattern, lengths in r.descs:
                self.parts.append((ri, "type", tag, Matcher(pattern, lengths=lengths)))
        self.refused_parts = [
            i for i, (_, role, tag, _) in enumerate(self.parts) if role == "type" and tag in REFUSED
        ]

    def initial(self):
        return tuple(m.initial() for (_, _, _, m) in self.parts)

    def step(self, state, digit):
        return tuple(m.step(s, digit) for (_, _, _, m), s in zip(self.parts, state))

    def may_refuse(self, state):
        return any(self.parts[i][3].alive(state[i]) for i in self.refused_parts)

    def classify(self, state, length):
        """libphonenumber's type of the number that led to `state` (a tag or None)."""
        n = len(self.regions)
        general = [False] * n
        leading = [None] * n
        first_type = [None] * n
        for (ri, role, tag, m), s in zip(self.parts, state):
            if role == "general":
                general[ri] = m.matches(s, length)
            elif role == "leading":
                leading[ri] = m.matches(s, length)
            elif first_type[ri] is None and m.matches(s, length):
                first_type[ri] = tag
        types = [first_type[i] if general[i] else None for i in range(n)]
        if n == 1:
            return types[0]
        for i in range(n):
            if self.regions[i].leading:
                if leading[i]:
                    return types[i]
            elif types[i] is not None:
                return types[i]
        return None


class Table:
    """The minimised classification automaton of one calling code, and its ranges."""

    DEAD = 0

    def __init__(self, code):
        self.code = code
        self.sigs = {None: Table.DEAD}  # signature -> id
        self.nodes = [None]  # id -> (class at end, children ids)
        self.memo = {}

    def intern(self, sig):
        i = self.sigs.get(sig)
        if i is None:
            i = len(self.nodes)
            self.sigs[sig] = i
            self.nodes.append(sig)
        return i

    def explore(self, state, depth):
        if depth > self.code.max_len or not self.code.may_refuse(state):
            return Table.DEAD
        key = (state, depth)
        hit = self.memo.get(key)
        if hit is not None:
            return hit
        tag = self.code.classify(state, depth) if depth > 0 else None
        here = REFUSED.get(tag)
        children = tuple(self.explore(self.code.step(state, d), depth + 1) for d in DIGITS)
        if here is None and all(c == Table.DEAD for c in children):
            out = Table.DEAD
        else:
            out = self.intern((here, children))
        self.memo[key] = out
        return out

    def uniform(self, node):
        """{suffix length: type} if what `node` classifies depends on the length only."""
        if node == Table.DEAD:
            return {}
        here, children = self.nodes[node]
        if any(c != children[0] for c in children):
            return None
        rest = self.uniform(children[0])
        if rest is None:
            return None
        out = {k + 1: v for k, v in rest.items()}
        if here is not None:
            out[0] = here
        return out

    def ranges(self, node, prefix, depth, out):
        if node == Table.DEAD:
            return
        u = self.uniform(node)
        if u is not None:
            by_type = {}
            for k, t in u.items():
                by_type.setdefault(t, []).append(depth + k)
            for t, lengths in by_type.items():
                out.append((prefix, lengths, t))
            return
        here, children = self.nodes[node]
        if here is not None:
            out.append((prefix, [depth], here))
        groups = {}
        for d, c in zip(DIGITS, children):
            groups.setdefault(c, []).append(d)
        for c, digits in groups.items():
            self.ranges(c, prefix + [digits], depth + 1, out)


def fmt_class(digits):
    if len(digits) == 1:
        return digits[0]
    parts = []
    run = [digits[0]]
    for d in digits[1:]:
        if int(d) == int(run[-1]) + 1:
            run.append(d)
        else:
            parts.append(run)
            run = [d]
    parts.append(run)
    text = "".join(r[0] + ("-" + r[-1] if len(r) > 2 else ("" if len(r) == 1 else r[1])) for r in parts)
    return f"[{text}]"


def fmt_lengths(lengths):
    lengths = sorted(set(lengths))
    parts = []
    start = prev = lengths[0]
    for n in lengths[1:] + [None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ",".join(parts)


# ---------------------------------------------------------------- checks


def direct_type(regions, national):
    """libphonenumber's getNumberType, with Python's re: the independent side of the check."""

    def type_under(r):
        if not re.fullmatch(r.general, national):
            return None
        for tag, pattern, lengths in r.descs:
            if lengths is not None and len(national) not in lengths:
                continue
            if re.fullmatch(pattern, national):
                return tag
        return None

    if len(regions) == 1:
        return type_under(regions[0])
    for r in regions:
        if r.leading:
            if re.match(clean(r.leading), national):
                return type_under(r)
        elif type_under(r) is not None:
            return type_under(r)
    return None


def table_type(lines, national):
    """What a reader of the table answers (the runtime's lookup, in Python)."""
    hits = []
    for prefix, lengths, t in lines:
        if len(national) in lengths and len(national) >= len(prefix):
            if all(national[i] in cls for i, cls in enumerate(prefix)):
                hits.append(t)
    if len(hits) > 1:
        raise AssertionError(f"{national}: {len(hits)} ranges match")
    return hits[0] if hits else None


def check(code, regions, lines, rng):
    samples = set()
    for r in regions:
        samples.update(n for _, n in r.examples)
    for prefix, lengths, _ in lines:
        for n in lengths:
            for _ in range(6):
                digits = [rng.choice(cls) for cls in prefix]
                digits += [rng.choice(DIGITS) for _ in range(n - len(prefix))]
                s = "".join(digits)
                samples.add(s)
                # Neighbours: one digit changed, one digit more or less.
                i = rng.randrange(len(s))
                samples.add(s[:i] + rng.choice(DIGITS) + s[i + 1 :])
                samples.add(s + rng.choice(DIGITS))
                samples.add(s[:-1])
    for _ in range(300):
        n = rng.randrange(4, MAX_E164_DIGITS - len(code) + 1)
        samples.add("".join(rng.choice(DIGITS) for _ in range(n)))
    bad = []
    for s in sorted(samples):
        if not s or len(s) > MAX_E164_DIGITS - len(code):
            continue
        want = REFUSED.get(direct_type(regions, s))
        got = table_type(lines, s)
        if want != got:
            bad.append(f"+{code} {s}: libphonenumber {want}, table {got}")
    return len(samples), bad


# ---------------------------------------------------------------- main


def find_metadata():
    home = os.path.expanduser("~/.cargo/registry/src")
    found = sorted(glob.glob(f"{home}/*/phonenumber-*/assets/PhoneNumberMetadata.xml"))
    if not found:
        sys.exit(
            "PhoneNumberMetadata.xml not found: cargo fetch a project that depends on the "
            "phonenumber crate, or pass --metadata"
        )
    return found[-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--metadata", help="PhoneNumberMetadata.xml (default: the phonenumber crate's)")
    ap.add_argument("--release", help="the libphonenumber release of the metadata, for the header")
    ap.add_argument("--out", default="shared/domain/data/libphonenumber_number_types.txt")
    args = ap.parse_args()
    path = args.metadata or find_metadata()
    release = args.release
    if release is None:
        m = re.search(r"phonenumber-[^+/]*\+(\d+\.\d+\.\d+)", path)
        release = f"v{m.group(1)}" if m else "unknown"
    by_code = load(path)
    rng = random.Random(26)
    rows = []
    checked = 0
    for code in sorted(by_code, key=int):
        regions = by_code[code]
        c = Code(code, regions)
        t = Table(c)
        root = t.explore(c.initial(), 0)
        lines = []
        t.ranges(root, [], 0, lines)
        n, bad = check(code, regions, lines, rng)
        checked += n
        if bad:
            sys.exit("the table disagrees with libphonenumber:\n" + "\n".join(bad[:20]))
        for prefix, lengths, typ in lines:
            rows.append(
                (int(code), "".join(fmt_class(cls) for cls in prefix), fmt_lengths(lengths), typ)
            )
    rows.sort()
    header = [
        "# Number ranges of the types domain::destination refuses by default: premium_rate,",
        "# shared_cost, personal_number, uan, pager. Generated by tools/gen_number_types.py from",
        f"# libphonenumber's resources/PhoneNumberMetadata.xml, release {release}",
        "# (https://github.com/google/libphonenumber; Apache License 2.0, see NOTICE).",
        "# Do not edit: run the generator (docs/calling-compliance.md, \"Number types\").",
        "# <calling code>|<prefix of the national number>|<national lengths>|<type>",
    ]
    with open(args.out, "w") as f:
        f.write("\n".join(header) + "\n")
        for code, prefix, lengths, typ in rows:
            f.write(f"{code}|{prefix}|{lengths}|{typ}\n")
    counts = {}
    for r in rows:
        counts[r[3]] = counts.get(r[3], 0) + 1
    print(
        f"{args.out}: {len(rows)} ranges ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}); "
        f"{checked} numbers checked against libphonenumber's rules ({path})",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
