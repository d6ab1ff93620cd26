#!/usr/bin/env python3
"""Checks an HTML report of `effbench report --format html`, as written or as
a browser's DOM dump (--dom), against counts the database implies.

  report_html_check.py FILE --tables N --svgs N [--runs N] [--yaml FILE] [--dom]
  report_html_check.py --png FILE --width W --height H     (a screenshot)

Exits 1 naming every failed check; used by tests/report_html_file.test.sh
and tests/report_html.test.sh."""
import argparse
import html
import html.parser
import re
import struct
import sys
import xml.etree.ElementTree as ET
import zlib

fails = []


def check(ok, msg):
    if not ok:
        fails.append(msg)


class Doc(html.parser.HTMLParser):
    """Counts elements, collects img/script/link and external references."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.count = {}
        self.classes = {}
        self.imgs = []
        self.external = []
        self.runs_rows = 0
        self._in_runs = False
        self.pre = []
        self._in_pre = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.count[tag] = self.count.get(tag, 0) + 1
        if tag == "table":
            self.classes[a.get("class")] = self.classes.get(a.get("class"), 0) + 1
            self._in_runs = a.get("class") == "runs"
        if tag == "tr" and self._in_runs:
            self.runs_rows += 1
        if tag == "img":
            self.imgs.append(a)
        if tag == "pre" and a.get("class") == "yaml":
            self._in_pre = True
        for k in ("src", "href", "xlink:href", "action", "data"):
            v = (a.get(k) or "").strip().lower()
            if re.match(r"^(https?:|//|ftp:)", v):
                self.external.append(f"<{tag} {k}={v}>")

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_runs = False
        if tag == "pre":
            self._in_pre = False

    def handle_data(self, data):
        if self._in_pre:
            self.pre.append(data)


def svgs_well_formed(text, dom):
    svgs = re.findall(r"<svg\b.*?</svg>", text, flags=re.S)
    for i, s in enumerate(svgs):
        if dom:
            # an HTML serializer writes entities XML does not define
            s = s.replace("&nbsp;", "&#160;")
        if "xmlns=" not in s[:500]:
            s = s.replace("<svg", '<svg xmlns="http://www.w3.org/2000/svg"', 1)
        if "xmlns:xlink" not in s[:500] and "xlink:" in s:
            s = s.replace("<svg", '<svg xmlns:xlink="http://www.w3.org/1999/xlink"', 1)
        try:
            root = ET.fromstring(s)
            check(len(list(root.iter())) > 10, f"svg {i + 1} is nearly empty")
        except ET.ParseError as e:
            check(False, f"svg {i + 1} is not well-formed XML: {e}")
    return len(svgs)


def check_html(args):
    text = open(args.file, encoding="utf-8").read()
    d = Doc()
    d.feed(text)
    d.close()
    check(text.lstrip().lower().startswith("<!doctype html>") or args.dom,
          "no <!DOCTYPE html> at the start")
    check(d.count.get("html", 0) == 1 and d.count.get("body", 0) == 1,
          "not one <html> and one <body>")
    ntab = d.count.get("table", 0)
    check(ntab == args.tables, f"{ntab} <table> elements, expected {args.tables} "
          f"(by class: {d.classes})")
    nsvg = d.count.get("svg", 0)
    check(nsvg == args.svgs, f"{nsvg} <svg> elements, expected {args.svgs}")
    check(d.count.get("figure", 0) == args.svgs,
          f"{d.count.get('figure', 0)} <figure> elements, expected {args.svgs}")
    parsed = svgs_well_formed(text, args.dom)
    check(parsed == args.svgs, f"{parsed} <svg>...</svg> blocks, expected {args.svgs}")
    for a in d.imgs:
        check((a.get("src") or "").strip() != "", f"<img> without a src: {a}")
    for tag in ("script", "iframe", "object", "embed", "link"):
        check(d.count.get(tag, 0) == 0, f"{d.count.get(tag)} <{tag}> elements")
    check(not d.external, f"external resources: {d.external[:5]}")
    check(not re.search(r"url\(\s*['\"]?(https?:|//)|@import", text, flags=re.I),
          "CSS fetches something")
    if args.runs is not None:
        check(d.runs_rows == args.runs + 1,
              f"runs table has {d.runs_rows - 1} runs, expected {args.runs}")
    if args.yaml:
        want = open(args.yaml, encoding="utf-8").read()
        got = "".join(d.pre)
        check(got == want, "suite YAML differs from the file:\n" + got[:300])
    for s in args.contains or []:
        check(s in html.unescape(text), f"lacks {s!r}")


def png_pixels(path):
    """(width, height, rows of RGB(A) bytes) of a non-interlaced 8-bit PNG."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG (depth {depth}, colour type {ctype})")
    bpp = 3 if ctype == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), w * bpp, [], bytearray(w * bpp)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pr) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def check_png(args):
    w, h, bpp, rows = png_pixels(args.png)
    check((w, h) == (args.width, args.height), f"screenshot is {w}x{h}")
    colours, ink = set(), 0
    for r in rows[::4]:
        for x in range(0, len(r), bpp * 4):
            px = r[x:x + 3]
            colours.add(px)
            ink += px != b"\xff\xff\xff"
    total = len(rows[::4]) * ((w + 3) // 4)
    check(len(colours) >= 8, f"screenshot has {len(colours)} colours: blank?")
    check(ink > total // 200, f"screenshot is {ink}/{total} non-white samples: blank?")
    print(f"screenshot {w}x{h}: {len(colours)} colours, {100 * ink / total:.1f}% non-white")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file", nargs="?")
    ap.add_argument("--tables", type=int)
    ap.add_argument("--svgs", type=int)
    ap.add_argument("--runs", type=int)
    ap.add_argument("--yaml")
    ap.add_argument("--contains", action="append")
    ap.add_argument("--dom", action="store_true")
    ap.add_argument("--png")
    ap.add_argument("--width", type=int)
    ap.add_argument("--height", type=int)
    args = ap.parse_args()
    if args.png:
        check_png(args)
    else:
        check_html(args)
    for f in fails:
        print("FAIL:", f)
    sys.exit(1 if fails else 0)


main()
