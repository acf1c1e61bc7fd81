# SPDX-License-Identifier: Apache-2.0
# Renders a Helm chart's templates for tests, without helm (Debian has none):
# only the subset deploy/helm uses -- {{ .Values.x.y }}, .Release.Name/Namespace,
# .Chart.Name/Version/AppVersion, "| quote", "toYaml X | nindent N", if/else/end,
# and {{- / -}} whitespace trimming. Anything else is an error, so a template
# that needs real helm fails here loudly instead of rendering wrong.
# Usage: helm_render.py CHART_DIR NAMESPACE [key.path=yaml-value ...] > out.yaml
import json
import os
import re
import sys

import yaml

ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)


class RenderError(Exception):
    pass


def lookup(ctx, ref):
    if not ref.startswith("."):
        raise RenderError(f"unsupported value {ref!r}")
    v = ctx
    for part in ref[1:].split("."):
        if not isinstance(v, dict) or part not in v:
            raise RenderError(f"{ref} is not defined")
        v = v[part]
    return v


def scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


def evaluate(ctx, expr):
    parts = [p.strip() for p in expr.split("|")]
    head = parts[0].split()
    if head[0] == "toYaml" and len(head) == 2:
        v = yaml.safe_dump(lookup(ctx, head[1]), default_flow_style=False, sort_keys=False).rstrip("\n")
    elif len(head) == 1:
        v = lookup(ctx, head[0])
    else:
        raise RenderError(f"unsupported expression {expr!r}")
    for f in parts[1:]:
        fn = f.split()
        if fn == ["quote"]:
            v = json.dumps(scalar(v))
        elif fn[0] == "nindent" and len(fn) == 2:
            pad = " " * int(fn[1])
            v = "\n" + "\n".join(pad + line for line in scalar(v).split("\n"))
        else:
            raise RenderError(f"unsupported function {f!r}")
    return scalar(v)


def render(text, ctx):
    out, stack, pos = [], [], 0  # stack: (active, taken) per open if

    def active():
        return all(a for a, _ in stack)

    for m in ACTION.finditer(text):
        chunk = text[pos:m.start()]
        if m.group(1):
            chunk = chunk.rstrip(" \t\n")
        if active():
            out.append(chunk)
        pos = m.end()
        if m.group(3):
            while pos < len(text) and text[pos] in " \t\n":
                pos += 1
        expr = m.group(2)
        if expr.startswith("/*"):
            continue
        if expr.startswith("if "):
            cond = bool(lookup(ctx, expr[3:].strip())) if active() else False
            stack.append((cond, cond))
        elif expr == "else":
            if not stack:
                raise RenderError("else without if")
            _, taken = stack.pop()
            stack.append((not taken, True))
        elif expr == "end":
            if not stack:
                raise RenderError("end without if")
            stack.pop()
        elif active():
            out.append(evaluate(ctx, expr))
    if stack:
        raise RenderError("if without end")
    out.append(text[pos:])
    return "".join(out)


def set_path(values, dotted, raw):
    keys = dotted.split(".")
    for k in keys[:-1]:
        values = values.setdefault(k, {})
    values[keys[-1]] = yaml.safe_load(raw)


def main():
    chart, ns = sys.argv[1], sys.argv[2]
    with open(os.path.join(chart, "Chart.yaml")) as f:
        meta = yaml.safe_load(f)
    with open(os.path.join(chart, "values.yaml")) as f:
        values = yaml.safe_load(f)
    for kv in sys.argv[3:]:
        k, v = kv.split("=", 1)
        set_path(values, k, v)
    ctx = {"Values": values, "Release": {"Name": "kiln-webhook", "Namespace": ns},
           "Chart": {"Name": meta["name"], "Version": meta["version"], "AppVersion": meta["appVersion"]}}
    tdir = os.path.join(chart, "templates")
    for name in sorted(os.listdir(tdir)):
        if not name.endswith(".yaml"):
            continue
        with open(os.path.join(tdir, name)) as f:
            try:
                doc = render(f.read(), ctx)
            except RenderError as e:
                sys.exit(f"helm_render: {name}: {e}")
        print(f"---\n# Source: {name}\n{doc.strip()}")


if __name__ == "__main__":
    main()
