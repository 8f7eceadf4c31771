"""Open an HTML report in headless Chromium and check what a reader sees.

  - every <img> loads (complete, naturalWidth > 0) and there is at least
    --min-images of them;
  - the page logs no console error, throws no exception, and requests
    nothing but file: and data: URLs (a report must read offline);
  - a full-page screenshot is not a single colour;
  - optional: the page text contains each --expect string and no --reject
    string; each --section-image ID=TEXT: the section under <h2 id=ID> (up to
    the next h2) holds a loaded image whose src contains TEXT.

Chromium (Debian's `chromium`) runs with --remote-debugging-port=0 in a fresh
--user-data-dir; this script reads the port from DevToolsActivePort and
drives the page over the DevTools protocol with python3-websocket.

usage: check_page.py INDEX.html SCREENSHOT.png [--min-images N] [--expect TEXT ...]
                    [--reject TEXT ...] [--section-image ID=TEXT ...]
"""
import argparse
import base64
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket
from PIL import Image

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1400,1000"]


class Cdp:
    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events = []

    def call(self, method, **params):
        self.next_id += 1
        my = self.next_id
        self.ws.send(json.dumps({"id": my, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_event(self, method, timeout):
        end = time.time() + timeout
        while time.time() < end:
            if any(e["method"] == method for e in self.events):
                return True
            self.ws.settimeout(max(0.1, end - time.time()))
            try:
                msg = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                break
            if "method" in msg:
                self.events.append(msg)
        return any(e["method"] == method for e in self.events)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("page")
    ap.add_argument("screenshot")
    ap.add_argument("--min-images", type=int, default=1)
    ap.add_argument("--expect", action="append", default=[])
    ap.add_argument("--reject", action="append", default=[])
    ap.add_argument("--section-image", action="append", default=[])
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    a = ap.parse_args()
    url = "file://" + os.path.abspath(a.page)
    profile = tempfile.mkdtemp(prefix="dmpipe-chromium-")
    proc = subprocess.Popen([a.chromium] + FLAGS + [f"--user-data-dir={profile}",
                                                    "--remote-debugging-port=0", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    failures = []
    try:
        port_file = os.path.join(profile, "DevToolsActivePort")
        end = time.time() + 60
        while not os.path.exists(port_file) and time.time() < end:
            if proc.poll() is not None:
                raise SystemExit(f"FAIL: chromium exited with {proc.returncode} at start")
            time.sleep(0.1)
        time.sleep(0.2)
        with open(port_file) as f:
            port = int(f.readline())
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as r:
            targets = json.load(r)
        page = next(t for t in targets if t.get("type") == "page")
        cdp = Cdp(page["webSocketDebuggerUrl"])
        for dom in ("Page", "Runtime", "Log", "Network"):
            cdp.call(dom + ".enable")
        cdp.events.clear()
        cdp.call("Page.navigate", url=url)
        if not cdp.wait_event("Page.loadEventFired", 60):
            failures.append("the page did not finish loading in 60 s")
        # Images decode asynchronously after load; give them a moment.
        imgs = []
        for _ in range(50):
            r = cdp.call("Runtime.evaluate", returnByValue=True, expression=(
                "Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, "
                "i.naturalWidth, i.naturalHeight])"))
            imgs = r["result"]["value"]
            if all(c and w > 0 for _, c, w, _ in imgs):
                break
            time.sleep(0.1)
        if len(imgs) < a.min_images:
            failures.append(f"{len(imgs)} images, expected at least {a.min_images}")
        for src, complete, w, h in imgs:
            if not complete or w <= 0 or h <= 0:
                failures.append(f"image {src} did not load (complete={complete}, {w}x{h})")
        text = cdp.call("Runtime.evaluate", returnByValue=True,
                        expression="document.body.innerText")["result"]["value"]
        for e in a.expect:
            if e not in text:
                failures.append(f"page text lacks {e!r}")
        for e in a.reject:
            if e in text:
                failures.append(f"page text has {e!r}")
        for want in a.section_image:
            sec, _, sub = want.partition("=")
            r = cdp.call("Runtime.evaluate", returnByValue=True, expression=(
                f"(() => {{ const h = document.getElementById({json.dumps(sec)}); if (!h) return null;"
                " const out = []; for (let n = h.nextElementSibling; n && n.tagName !== 'H2';"
                " n = n.nextElementSibling) n.querySelectorAll('img').forEach(i =>"
                " out.push([i.getAttribute('src'), i.complete && i.naturalWidth > 0]));"
                " return out; })()"))
            got = r["result"].get("value")
            if got is None:
                failures.append(f"no section with id {sec!r}")
            elif not any(sub in src and ok for src, ok in got):
                failures.append(f"section {sec!r}: no loaded image whose name has {sub!r} "
                                f"(images: {[s for s, _ in got]})")
        metrics = cdp.call("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        shot = cdp.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                        clip={"x": 0, "y": 0, "width": min(size["width"], 1400),
                              "height": min(size["height"], 16000), "scale": 1})
        png = base64.b64decode(shot["data"])
        with open(a.screenshot, "wb") as f:
            f.write(png)
        img = Image.open(io.BytesIO(png)).convert("RGB")
        colours = img.getcolors(maxcolors=1 << 16)
        if colours is not None and len(colours) <= 1:
            failures.append(f"the screenshot ({img.size[0]}x{img.size[1]}) is a single colour")
        cdp.wait_event("never", 0.5)  # collect late console messages
        for ev in cdp.events:
            m, p = ev["method"], ev.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                failures.append(f"console {p['type']}: "
                                f"{[x.get('value', x.get('description')) for x in p.get('args', [])]}")
            elif m == "Runtime.exceptionThrown":
                failures.append(f"exception: {p['exceptionDetails'].get('text')}")
            elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
                failures.append(f"console error: {p['entry'].get('text')} "
                                f"({p['entry'].get('url', '')})")
            elif m == "Network.requestWillBeSent":
                u = p["request"]["url"]
                if not (u.startswith("file:") or u.startswith("data:")):
                    failures.append(f"the page requests {u}: a report must read offline")
            elif m == "Network.loadingFailed":
                failures.append(f"a resource failed to load: {p.get('errorText')}")
        print(f"{url}: {len(imgs)} images loaded, screenshot {img.size[0]}x{img.size[1]} with "
              f"{'many' if colours is None else len(colours)} colours")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
    if failures:
        for f in failures:
            print("FAIL:", f)
        sys.exit(1)


if __name__ == "__main__":
    main()
