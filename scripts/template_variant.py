#!/usr/bin/env python3
"""Writes a copy of template.yaml with other parameter defaults, for `make lint`.

checkov evaluates a template with its parameters' defaults and leaves out every resource whose
condition is then false, so the optional parts that are off by default (EdgeProtection) are
never checked in template.yaml itself. `make lint` runs checkov a second time on a copy with
them switched on, written by this script:

    scripts/template_variant.py template.yaml OUT Name=Value [Name=Value ...]

Only the `Default:` line of each named top-level parameter changes; the text is otherwise
copied byte for byte (the template's short-form tags stay as they are). A parameter that is
missing, or that has no `Default:`, is an error.
"""

import json
import sys


def variant(text: str, defaults: dict) -> str:
    lines = text.splitlines(keepends=True)
    in_parameters = False
    current = None
    done = set()
    for i, line in enumerate(lines):
        if not line.startswith(" ") and line.strip():
            in_parameters = line.rstrip() == "Parameters:"
            current = None
            continue
        if not in_parameters:
            continue
        if line.startswith("  ") and not line.startswith("   ") and line.rstrip().endswith(":"):
            current = line.strip()[:-1]
            continue
        if current in defaults and line.startswith("    Default:"):
            # JSON strings are valid YAML scalars.
            lines[i] = f"    Default: {json.dumps(defaults[current])}\n"
            done.add(current)
    missing = sorted(set(defaults) - done)
    if missing:
        raise SystemExit(f"template_variant: no Default: line for parameter(s) {missing}")
    return "".join(lines)


def main(argv: list) -> None:
    if len(argv) < 4:
        raise SystemExit("usage: template_variant.py IN OUT Name=Value [Name=Value ...]")
    source, out = argv[1], argv[2]
    defaults = {}
    for arg in argv[3:]:
        name, sep, value = arg.partition("=")
        if not sep:
            raise SystemExit(f"template_variant: {arg!r} is not Name=Value")
        defaults[name] = value
    with open(source, encoding="utf-8") as f:
        text = f.read()
    with open(out, "w", encoding="utf-8") as f:
        f.write(variant(text, defaults))


if __name__ == "__main__":
    main(sys.argv)
