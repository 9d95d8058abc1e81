"""
Render an HTML file with headless Chromium and look at what it drew: the
DOM after parsing (--dump-dom) and a screenshot (--screenshot), decoded here
with zlib, so that a test sees a report as a person would.  Used by
test_report_render.py on the fixtures; a test of a real daemon's report can
call render_and_check() on the file `sonae report` wrote.

Only the standard library.  Each Chromium gets a fresh --user-data-dir in a
temporary folder and a timeout; one that hangs is killed by its PID (its
process group: Chromium starts helpers), and the folder removed.  As root,
Chromium needs --no-sandbox.
"""
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import zlib

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
TIMEOUT = 90


def available():
    """Whether a Chromium is installed to run."""
    return os.access(CHROMIUM, os.X_OK)


def run(args, timeout=TIMEOUT):
    """Run headless Chromium with args; returns (stdout, stderr) as text.

    Fails (AssertionError) if it exits non-zero or outlives timeout."""
    profile = tempfile.mkdtemp(prefix="sonae-chromium-")
    argv = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
            "--user-data-dir=" + profile, "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--disable-background-networking",
            "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio"] + list(args)
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = p.communicate()
        raise AssertionError("chromium %s: no answer in %ds, killed (pid %d):\n%s" %
                             (" ".join(args), timeout, p.pid,
                              err.decode("utf-8", "replace")[-2000:]))
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if p.returncode != 0:
        raise AssertionError("chromium %s: exit %d:\n%s" %
                             (" ".join(args), p.returncode,
                              err.decode("utf-8", "replace")[-2000:]))
    return out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def url(path):
    return "file://" + os.path.abspath(path)


def dump_dom(path, timeout=TIMEOUT):
    """The DOM of the HTML file at path, serialized after parsing."""
    out, _ = run(["--dump-dom", url(path)], timeout)
    return out


def screenshot(path, png, width=1200, height=3000, timeout=TIMEOUT):
    """A PNG of the page at path, width x height CSS pixels; returns png."""
    if os.path.exists(png):
        os.unlink(png)
    run(["--screenshot=" + os.path.abspath(png), "--window-size=%d,%d" % (width, height),
         url(path)], timeout)
    if not os.path.exists(png):
        raise AssertionError("chromium wrote no screenshot %s" % png)
    return png


def print_pdf(path, pdf, timeout=TIMEOUT):
    """Print the page at path to pdf as Chromium prints it; returns pdf."""
    if os.path.exists(pdf):
        os.unlink(pdf)
    run(["--no-pdf-header-footer", "--print-to-pdf=" + os.path.abspath(pdf), url(path)],
        timeout)
    if not os.path.exists(pdf):
        raise AssertionError("chromium wrote no PDF %s" % pdf)
    return pdf


def pdf_pages(pdf):
    """The number of pages of a PDF Chromium printed, and the first page's
    size in points ((595, 842) is A4)."""
    with open(pdf, "rb") as f:
        data = f.read()
    pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
    box = re.search(rb"/MediaBox\s*\[\s*([-0-9.]+)\s+([-0-9.]+)\s+([-0-9.]+)\s+([-0-9.]+)",
                    data)
    size = None
    if box:
        x0, y0, x1, y1 = (float(v) for v in box.groups())
        size = (round(x1 - x0), round(y1 - y0))
    return pages, size


# --- PNG ----------------------------------------------------------------------

def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_png(path):
    """Decode an 8-bit RGB or RGBA PNG without interlace.

    Returns (width, height, channels, rows), rows a list of bytes."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise AssertionError("%s is not a PNG" % path)
    pos, idat, ihdr = 8, [], None
    while pos + 8 <= len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + n
    if ihdr is None:
        raise AssertionError("%s: no IHDR" % path)
    width, height, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or ctype not in (2, 6) or interlace != 0:
        raise AssertionError("%s: unsupported PNG (depth %d, colour type %d, interlace %d)"
                             % (path, depth, ctype, interlace))
    ch = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * ch
    rows, prev = [], bytearray(stride)
    for y in range(height):
        off = y * (stride + 1)
        ft, line = raw[off], bytearray(raw[off + 1:off + 1 + stride])
        if ft == 1:
            for i in range(ch, stride):
                line[i] = (line[i] + line[i - ch]) & 0xff
        elif ft == 2:
            line = bytearray((a + b) & 0xff for a, b in zip(line, prev))
        elif ft == 3:
            for i in range(stride):
                left = line[i - ch] if i >= ch else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xff
        elif ft == 4:
            for i in range(stride):
                left = line[i - ch] if i >= ch else 0
                upleft = prev[i - ch] if i >= ch else 0
                line[i] = (line[i] + _paeth(left, prev[i], upleft)) & 0xff
        elif ft != 0:
            raise AssertionError("%s: row %d: filter %d" % (path, y, ft))
        rows.append(bytes(line))
        prev = line
    return width, height, ch, rows


def png_stats(path, step=2):
    """What a screenshot shows: its size, the share of pixels that are not
    white, how many colours (4 bits a channel), and how many pixels are
    reddish (warnings, the incident's mark) or bluish (the plots' lines).
    Every step-th pixel of every step-th row is looked at."""
    width, height, ch, rows = read_png(path)
    seen = nonwhite = red = blue = 0
    colours = set()
    for y in range(0, height, step):
        row = rows[y]
        for x in range(0, width * ch, ch * step):
            r, g, b = row[x], row[x + 1], row[x + 2]
            seen += 1
            if r < 235 or g < 235 or b < 235:
                nonwhite += 1
            colours.add((r >> 4, g >> 4, b >> 4))
            if r > 150 and g < 110 and b < 110:
                red += 1
            if b > 120 and r < 90 and b - r > 60:
                blue += 1
    return {"width": width, "height": height,
            "nonwhite": nonwhite / float(seen) if seen else 0.0,
            "colours": len(colours), "red": red, "blue": blue}


def japanese_font():
    """A font for Japanese that fontconfig knows (None: the text would be boxes)."""
    if shutil.which("fc-list") is None:
        return None
    p = subprocess.run(["fc-list", ":lang=ja", "family"], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, timeout=30)
    names = p.stdout.decode("utf-8", "replace").strip()
    return names.splitlines()[0] if names else None


def polylines(dom):
    """The points of every polyline in a DOM, as lists of (x, y)."""
    out = []
    for pts in re.findall(r'<polyline[^>]*\bpoints="([^"]*)"', dom):
        out.append([tuple(float(v) for v in p.split(","))
                    for p in pts.split() if "," in p])
    return out


def render_and_check(test, html, artifacts, name, want=()):
    """Load html in Chromium: its DOM must hold every string of want, and
    the screenshot (artifacts/NAME.png, kept) must show something: not
    blank, several colours.  Returns (dom, stats)."""
    os.makedirs(artifacts, exist_ok=True)
    dom = dump_dom(html)
    test.assertIn("</html>", dom, "chromium did not load %s" % html)
    for s in want:
        test.assertIn(s, dom, "%s: the DOM has no %r" % (html, s))
    test.assertNotIn("<script", dom, "%s: a script element" % html)
    png = screenshot(html, os.path.join(artifacts, name + ".png"))
    stats = png_stats(png)
    test.assertGreater(stats["nonwhite"], 0.02, "%s looks blank: %r" % (png, stats))
    test.assertGreaterEqual(stats["colours"], 8, "%s: too few colours: %r" % (png, stats))
    return dom, stats
