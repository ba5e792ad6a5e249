"""The invariants bench/soak.py checks at the end, and the table it prints."""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.error
import urllib.request
from collections import defaultdict
from typing import Any

from _soak_services import WEED_TMPFS_MB

ORPHAN_SETTLE_SECONDS = 150.0  # the daemons' periodic clean-up runs every 60 s
RESUMABLE = {"offered", "uploading", "interrupted", "uploaded", "sealed"}
OUTAGE_KINDS = {"kill-a", "kill-b", "redis", "postgres", "weed-20s", "disk-full"}
GRACE = 20.0


async def _db(harness: Any) -> tuple[list[Any], list[Any]]:
    import asyncpg

    conn = await asyncpg.connect(harness.services.db_url, timeout=10)
    try:
        chat = await conn.fetch(
            "SELECT id, room_id, text, created_at FROM chat_messages ORDER BY id"
        )
        transfers = await conn.fetch("SELECT id, state FROM transfers")
        return list(chat), list(transfers)
    finally:
        await conn.close()


def _bucket_dirs(harness: Any) -> dict[str, int]:
    """Transfer id -> objects stored under it (the filer lists a prefix as a directory)."""
    weed = harness.services.weed
    url = f"{weed.filer}/buckets/{weed.bucket}/bench/?limit=100000"
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=20) as reply:
            listing = json.loads(reply.read() or b"{}")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return {}
        raise
    found = {}
    for entry in listing.get("Entries") or []:
        name = entry["FullPath"].rsplit("/", 1)[-1]
        sub = f"{weed.filer}/buckets/{weed.bucket}/bench/{name}/?limit=100000"
        req = urllib.request.Request(sub, headers={"Accept": "application/json"})
        with urllib.request.urlopen(req, timeout=20) as reply:
            found[name] = len(json.loads(reply.read() or b"{}").get("Entries") or [])
    return found


def _in_windows(t: float, windows: list[tuple[float, float]]) -> bool:
    return any(start - 1 <= t <= end + GRACE for start, end in windows)


def _nginx_statuses(harness: Any) -> tuple[dict[str, int], list[str], int]:
    """(status -> count of 5xx allowed, breaches, requests seen) from nginx's access log."""
    t0_wall = harness.t0_wall
    outages = [(f.start, f.end) for f in harness.faults if f.kind in OUTAGE_KINDS]
    kills = [(f.start, f.end) for f in harness.faults if f.kind.startswith("kill")]
    allowed: dict[str, int] = defaultdict(int)
    breaches: list[str] = []
    seen = 0
    line_re = re.compile(r'^(\d+\.\d+) (\d{3}) "([^"]*)" "([^"]*)"')
    for line in harness.services.nginx.access_log.read_text(errors="replace").splitlines():
        found = line_re.match(line)
        if not found:
            continue
        seen += 1
        status = int(found.group(2))
        if status < 500:
            continue
        at = float(found.group(1)) - t0_wall
        upstream, request = found.group(3), found.group(4)
        if status == 503 and _in_windows(at, outages):
            kinds = {f.kind for f in harness.faults if _in_windows(at, [(f.start, f.end)])}
            during = sorted(kinds & OUTAGE_KINDS)
            allowed[f"503 during {'/'.join(during)}"] += 1
        elif status in (502, 504) and _in_windows(at, kills):
            allowed[f"{status} from nginx while a daemon was killed"] += 1
        else:
            breaches.append(f"{status} (daemon said {upstream or '-'}) at {at:.0f} s: {request}")
    return allowed, breaches, seen


async def check_all(harness: Any) -> tuple[list[tuple[str, str, int, str]], list[str]]:
    """(rows of invariant, checked, breaches, detail), all breach lines."""
    rows: list[tuple[str, str, int, str]] = []
    breaches: list[str] = []

    def row(name: str, checked: str, found: list[str], detail: str = "") -> None:
        rows.append((name, checked, len(found), detail))
        breaches.extend(f"{name}: {b}" for b in found)

    chat, transfers = await _db(harness)
    record = harness.chat.record
    by_text: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for r in chat:
        by_text[r["text"]].append((r["id"], r["room_id"]))
    once: list[str] = []
    order: list[str] = []
    last: dict[tuple[str, str], int] = {}
    for m in record.acked:
        stored = by_text.get(m["text"], [])
        if stored != [(m["id"], m["room"])]:
            once.append(f"acked {m['text']} (id {m['id']}) stored as {stored}")
        key = (m["room"], m["sender"])
        if last.get(key, 0) >= m["id"]:
            order.append(f"{m['text']} id {m['id']} after id {last[key]} from the same sender")
        last[key] = m["id"]
    row("chat: acked stored exactly once", f"{len(record.acked)} acked", once,
        f"{record.unacked} sends not acked (outages), {len(chat)} stored")  # fmt: skip
    row("chat: in order per room", f"{len(record.acked)} acked", order)
    stored_at = {r["id"]: r["created_at"] for r in chat}
    fault_times = [
        f"{f.kind} {time.strftime('%H:%M:%S', time.gmtime(harness.t0_wall + f.start))}"
        for f in harness.faults
    ]
    room_ids: dict[str, list[int]] = defaultdict(list)
    for r in chat:
        room_ids[r["room_id"]].append(r["id"])
    missing: list[str] = []
    expected = 0
    for user, rooms in record.received.items():
        for room, got in rooms.items():
            floor = record.first_seen.get(user, {}).get(room, 0)
            want = [i for i in room_ids.get(room, []) if i > floor]
            expected += len(want)
            lost = [i for i in want if i not in got]
            if lost:
                when = [stored_at.get(i) for i in lost[:8]]
                missing.append(
                    f"{user} never got {len(lost)} of room {room[:8]}: ids {lost[:8]} "
                    f"stored at {when} (faults: {fault_times})"
                )
    row("chat: delivered to every member", f"{expected} deliveries", missing,
        f"{record.reconnects} reconnects, {record.truncated} truncated replays")  # fmt: skip

    states = {r["id"]: r["state"] for r in transfers}
    verified: list[str] = []
    resumable: list[str] = []
    counts: dict[str, int] = defaultdict(int)
    for lane in harness.lanes:
        for t in lane.done:
            counts["transfers"] += 1
            counts["interrupted"] += 1 if t.interruptions else 0
            if t.expected_abort:
                counts["aborted"] += 1
                st = [states.get(i, "deleted") for i in t.transfer_ids]
                if t.sender_exit == 8 and any(s not in ("aborted", "deleted") for s in st):
                    resumable.append(f"{lane.name}: code mistyped, sender exit 8, states {st}")
                continue

            def whole(r: str, t: Any = t) -> bool:
                return all(t.received.get(r, {}).get(n) == sha for n, sha in t.files.items())

            st = [states.get(i, "deleted") for i in t.transfer_ids]
            # What the sender saw verified must be byte-identical at each receiver it named.
            wrong = [r for r in t.verdicts if not whole(r)]
            if wrong:
                verified.append(f"{lane.name}: the sender saw {wrong} verify, files differ")
            if t.sender_verified:
                counts["verified"] += 1
                counts["resumed to a verified end"] += 1 if t.interruptions else 0
            missing = [r for r in t.receivers if not whole(r)]
            if not missing:
                continue
            # Every receiver that has not got it whole must be able to: a resumable offer.
            if any(s in RESUMABLE for s in st):
                counts["left resumable"] += 1
            else:
                resumable.append(
                    f"{lane.name}: {missing} without it, states {st or 'no offer'}, "
                    f"sender exit {t.sender_exit}, receivers {t.receiver_exits}"
                )
    summary = ", ".join(f"{v} {k}" for k, v in counts.items())
    row("transfers: verified = byte-identical at every receiver",
        f"{counts['verified']} verified", verified, summary)  # fmt: skip
    row("transfers: interrupted resumed or resumable",
        f"{counts['interrupted']} interrupted", resumable)  # fmt: skip

    orphans: list[str] = []
    deadline = time.monotonic() + ORPHAN_SETTLE_SECONDS
    while True:
        _, transfers = await _db(harness)
        states = {r["id"]: r["state"] for r in transfers}
        dirs = await asyncio.to_thread(_bucket_dirs, harness)
        orphans = [
            f"{tid}: {n} objects, transfer {states.get(tid, 'missing')}"
            for tid, n in dirs.items()
            if n and states.get(tid) in (None, "aborted")
        ]
        if not orphans or time.monotonic() > deadline:
            break
        await asyncio.sleep(10)
    tmpfs = harness.services.tmpfs
    store = (
        f"store {(tmpfs.store_bytes() or 0) >> 20} MiB at the end, at most "
        f"{harness.store_peak >> 20} of {WEED_TMPFS_MB} MiB (sampled every 5 s, not while full)"
        if tmpfs is not None
        else ""
    )
    row("storage: no object without a transfer", f"{len(dirs)} transfer prefixes", orphans, store)

    allowed, http_breaches, seen = _nginx_statuses(harness)
    row("http: no 5xx but 503 in outages", f"{seen} requests", http_breaches,
        ", ".join(f"{v} {k}" for k, v in allowed.items()) or "none")  # fmt: skip

    stuck: list[str] = []
    for f in harness.faults:
        for d, answered in f.answered.items():
            if answered is None:
                stuck.append(f"{d} did not answer /api/health within 1 s after {f.kind}")
            elif f.healthy_after.get(d) is None:
                stuck.append(f"{d} not healthy 60 s after {f.kind}")
    slowest = max((v for f in harness.faults for v in f.answered.values() if v), default=0.0)
    row("health: answers within 1 s after each fault", f"{len(harness.faults)} faults", stuck,
        f"slowest first answer {slowest:.3f} s")  # fmt: skip

    rss: list[str] = []
    details = []
    for d in harness.services.daemons:
        base = harness.rss_base.get(d.name)
        end = harness.final_rss.get(d.name)
        if base is None or end is None or base[0] != harness.final_instance[d.name]:
            details.append(f"{d.name}: n/a (restarted late)")
            continue
        ratio = end / base[1]
        details.append(f"{d.name} {base[1] >> 10}->{end >> 10} MiB ({ratio:.2f}x)")
        if ratio > 1.5:
            rss.append(f"{d.name} RSS {base[1]} KiB after warm-up, {end} KiB at the end")
    row("memory: RSS at end <= 1.5x after warm-up", "2 daemons", rss, "; ".join(details))

    session: list[str] = list(record.session_breaches)
    row("sessions: logged-out token refused", f"{record.logins} logins", session,
        f"{record.login_failures} failed during outages")  # fmt: skip
    unheard = record.removals - record.removals_heard
    row("rooms: removed member hears room:removed", f"{record.removals} removals",
        [f"{unheard} not heard"] if unheard and not harness.faults else [],
        f"{unheard} not heard (during faults)" if unheard else "")  # fmt: skip
    row("calls: join/leave", f"{record.calls} calls", [], f"{record.call_failures} failed")
    return rows, breaches


def print_table(
    harness: Any, rows: list[tuple[str, str, int, str]], breaches: list[str],
    load_before: tuple[float, ...], load_after: tuple[float, ...],
) -> None:  # fmt: skip
    args = harness.args
    print()
    print(f"soak: {args.minutes:g} min, seed {args.seed}, {len(harness.faults)} faults: "
          + ", ".join(f"{f.kind}@{f.start:.0f}s" for f in harness.faults))  # fmt: skip
    print(f"machine load (1/5/15 min) before {' '.join(f'{x:.2f}' for x in load_before)}, "
          f"after {' '.join(f'{x:.2f}' for x in load_after)}")  # fmt: skip
    for note in harness.notes:
        print(f"note: {note}")
    print()
    print("| invariant | checked | breaches | detail |")
    print("|---|---|---|---|")
    for name, checked, count, detail in rows:
        print(f"| {name} | {checked} | {count} | {detail} |")
    print()
    if breaches:
        print(f"{len(breaches)} breaches (reproduce with --seed {args.seed}):")
        for b in breaches:
            print(f"  BREACH {b}")
    else:
        print(f"breaches: 0 (seed {args.seed})")
