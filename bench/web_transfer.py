"""Files through the web page (issue 29): speed, and whether the tab's memory grows with the file.

The real daemon, the real CLI on one side and Debian's headless Chromium on the other (driven by
Playwright, as tests/browser_helpers.py does). For each size, CLI -> page (the page verifies
and decrypts into its private file system) and page -> CLI (the page seals into it, uploads,
the CLI receives); each file is checked by SHA-256 on the other side. While each transfer
runs, the resident memory of the Chromium this script starts is sampled every 0.1 s; the row
shows its peak above the level just before, for the tab (its renderer processes) and for the
whole browser (with its storage service, which writes the page's files). Flat means the
peak does not grow with the file: 'ratio' divides each size's peaks by the smallest size's.
The browser runs with an on-disk profile, as a person's does (Playwright's default contexts
are off the record, where Chromium keeps a site's storage in memory).

    python bench/web_transfer.py                     # 64 MiB and 1 GiB
    python bench/web_transfer.py --sizes 32MiB,256MiB
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from _common import MiB, parse_size, print_table, random_file  # noqa: E402


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(pid))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def chromium_rss() -> tuple[int, int]:
    """Resident bytes of the Chromium this script started (its descendants only: other browsers
    on the machine do not count): (its renderers, the tab; all its processes, the storage and
    network services and the browser process included)."""
    tab = every = 0
    for pid in _descendants(os.getpid()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"chrom" not in cmdline.split(b"\0")[0]:
                continue
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) * 1024
                    every += rss
                    tab += rss if b"--type=renderer" in cmdline else 0
        except OSError:
            continue
    return tab, every


class Sampler:
    """Peaks of `chromium_rss` above their levels when made, sampled every 0.1 s."""

    def __init__(self) -> None:
        self.base = chromium_rss()
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            now = chromium_rss()
            self.peak = (max(self.peak[0], now[0]), max(self.peak[1], now[1]))

    def stop(self) -> tuple[int, int]:
        self._stop.set()
        self._thread.join()
        return self.peak[0] - self.base[0], self.peak[1] - self.base[1]


class _Persistent:
    """A browser whose one context is the persistent one (an on-disk profile, as a person's):
    Playwright's ordinary contexts are off the record, where Chromium keeps a site's storage in
    memory, which would put the whole file in memory by design."""

    def __init__(self, context: Any) -> None:
        self.context = context

    def new_context(self, **_: Any) -> Any:
        return self.context


def wait_done(page: Any, items: str, n: int, done: str) -> Any:
    """The n-th element of `items` once it holds `done` or has failed (30 min at most)."""
    page.wait_for_function(
        "([items, n, done]) => { const li = document.querySelectorAll(items)[n];"
        " return li && (li.querySelector(done) || li.classList.contains('failed')); }",
        arg=[items, n, done],
        timeout=1_800_000,
    )
    return page.query_selector_all(items)[n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64MiB,1GiB")
    args = parser.parse_args()
    sizes = [parse_size(s) for s in args.sizes.split(",")]

    from playwright.sync_api import sync_playwright

    from browser_helpers import CHROMIUM_ARGS, chromium_path
    from transfer_helpers import Background, listening_receiver, sha256_of
    from web_transfer_helpers import linked_page, two_people

    from conftest import start_daemon

    rows: list[list[str]] = []
    peaks: dict[str, list[tuple[int, int]]] = {"CLI -> page": [], "page -> CLI": []}
    with tempfile.TemporaryDirectory(prefix="vn-webbench-") as tmp_name:
        tmp = Path(tmp_name)
        daemon = start_daemon(tmp / "daemon")
        try:
            two = two_people(daemon, tmp)
            bob, room = two.bob, two.room
            path = chromium_path()
            assert path, "chromium is not installed"
            with sync_playwright() as pw:
                context = pw.chromium.launch_persistent_context(
                    str(tmp / "profile"),
                    executable_path=path,
                    args=CHROMIUM_ARGS,
                    base_url=daemon.url,
                    viewport={"width": 1100, "height": 800},
                )
                page = linked_page(_Persistent(context), daemon, two.alice, two.recovery, room)
                page.on("dialog", lambda dialog: dialog.accept())
                for n, size in enumerate(sizes):
                    source = tmp / f"in-{n}.bin"
                    want = random_file(source, size)
                    # CLI -> page
                    sampler = Sampler()
                    began = time.monotonic()
                    sender = Background(
                        bob.cli,
                        "send",
                        room,
                        str(source),
                        "--trust-new",
                        "--json",
                        "--timeout",
                        "900",
                    )
                    offers = page.query_selector_all("li.offer")
                    page.wait_for_selector(
                        f"li.offer >> nth={len(offers)} >> button.take", timeout=600_000
                    )
                    page.query_selector_all("li.offer")[len(offers)].query_selector(
                        "button.take"
                    ).click()
                    item = wait_done(page, "li.offer", len(offers), "a.save")
                    link = item.query_selector("a.save")
                    assert link is not None, item.inner_text()
                    seconds = time.monotonic() - began
                    grew = sampler.stop()
                    assert sender.finish(timeout=600) == 0, sender.stderr()
                    assert link.get_attribute("data-sha256") == want
                    peaks["CLI -> page"].append(grew)
                    rows.append(
                        [
                            "CLI -> page",
                            f"{size / MiB:.0f} MiB",
                            f"{seconds:.1f}",
                            f"{size / seconds / 1e6:.1f}",
                            f"{grew[0] / MiB:.0f}",
                            f"{grew[1] / MiB:.0f}",
                        ]
                    )
                    # page -> CLI
                    out = tmp / f"out-{n}"
                    receiver = listening_receiver(bob.cli, room, out, "--timeout", "900")
                    sends = page.query_selector_all("li.sending")
                    sampler = Sampler()
                    began = time.monotonic()
                    page.set_input_files("#send-files", str(source))
                    page.click("#send-form button[type=submit]")
                    item = wait_done(page, "li.sending", len(sends), "li.verdict")
                    assert item.query_selector("li.verdict"), item.inner_text()
                    seconds = time.monotonic() - began
                    grew = sampler.stop()
                    assert receiver.finish(timeout=600) == 0, receiver.stderr()
                    assert sha256_of(out / source.name) == want
                    peaks["page -> CLI"].append(grew)
                    rows.append(
                        [
                            "page -> CLI",
                            f"{size / MiB:.0f} MiB",
                            f"{seconds:.1f}",
                            f"{size / seconds / 1e6:.1f}",
                            f"{grew[0] / MiB:.0f}",
                            f"{grew[1] / MiB:.0f}",
                        ]
                    )
                    source.unlink()
                    (out / source.name).unlink()
                context.close()
        except BaseException:
            log = tmp / "daemon.log"
            if log.exists():  # what the daemon said, for a run that failed
                print("".join(log.read_text().splitlines(keepends=True)[-30:]), file=sys.stderr)
            raise
        finally:
            daemon.stop()
    for row in rows:
        first = peaks[row[0]][0]
        index = [r for r in rows if r[0] == row[0]].index(row)
        now = peaks[row[0]][index]
        row.append(f"{now[0] / max(first[0], 1):.2f} / {now[1] / max(first[1], 1):.2f}")
    headers = ["direction", "size", "s", "MB/s", "tab +MiB", "browser +MiB", "ratio tab/browser"]
    print_table(headers, rows)
    print(f"load: {os.getloadavg()}")


if __name__ == "__main__":
    main()
