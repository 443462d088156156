#!/usr/bin/env python3
"""Convert the raw China Railway 12306 timetable (coyove/RouteMaster, run date
2021-04-13) into the TSV files under demo/data/ that the demo loads with psql's
\\copy (PostgreSQL COPY text format: UTF-8, tab-separated, no header, \\N = NULL).

Usage:
    python3 demo/tools/convert_timetable.py /path/to/cr-timetable-2021-04-13 demo/data

Input:
    trains/*.json     one train each: Date, Code, CodeHuman, From, To,
                      Path[] of {StationName, ArrivalTime, DepartureTime}
    station_name.txt  var station_names ='@abbr|name|TELECODE|pinyin|short|index@...'

Output (all sorted, deterministic):
    stations.tsv  telecode, name, pinyin             (only stations used by a train)
    stops.tsv     train_code, stop_no, telecode, arrive_s, depart_s
    trains.tsv    train_code, code_12306, origin, terminus, service_date

About the times: the source stores each time as Unix epoch seconds that encode
Beijing local time as if it were UTC, but in this data set every timestamp lies
on the service date itself: only the time of day is meaningful, and a train
that runs past midnight "jumps back" in time.  We rebuild the day offset by
walking each route in order and adding 86400 s whenever a time is earlier than
the one before it.  arrive_s / depart_s are then seconds since 00:00 of the
calendar day of the origin's departure, so stops on a later day are >= 86400.
If the input does carry full timestamps, the unwrapping is a no-op.

Standard library only.  Exits non-zero, with a message, on anything it cannot
convert faithfully (unknown station, duplicate train code, malformed record).
"""

import glob
import json
import os
import re
import sys
from collections import defaultdict

DAY = 86400
NULL = "\\N"
# A hop or dwell longer than this after unwrapping is reported as suspicious.
SUSPICIOUS_GAP = 12 * 3600


def die(msg):
    sys.stderr.write("convert_timetable: ERROR: %s\n" % msg)
    sys.exit(1)


def note(msg):
    sys.stderr.write("convert_timetable: %s\n" % msg)


def hms(s):
    if s is None:
        return "--"
    d, r = divmod(s, DAY)
    return "%s%02d:%02d" % ("+%d " % d if d else "", r // 3600, r % 3600 // 60)


def load_stations(path):
    """Return {name: [(telecode, pinyin), ...]} in file order."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    m = re.fullmatch(r"\s*var\s+station_names\s*=\s*'(.*)'\s*;?\s*", text, re.S)
    if not m:
        die("%s: not a 'var station_names = ...' string" % path)
    by_name = defaultdict(list)
    n = 0
    for entry in m.group(1).split("@"):
        if not entry:
            continue
        fields = entry.split("|")
        if len(fields) != 6:
            die("%s: malformed entry %r" % (path, entry))
        _abbr, name, code, pinyin, _short, _index = fields
        if not name or not re.fullmatch(r"[A-Z]{3}", code):
            die("%s: bad name or telecode in entry %r" % (path, entry))
        by_name[name].append((code, pinyin))
        n += 1
    return by_name, n


def check_field(value, what):
    s = str(value)
    if any(c in s for c in "\t\n\r\\"):
        die("%s contains a tab, newline or backslash: %r" % (what, s))
    return s


def write_tsv(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        for row in rows:
            f.write("\t".join(NULL if v is None else check_field(v, path) for v in row))
            f.write("\n")


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    src, out = argv[1], argv[2]

    by_name, n_entries = load_stations(os.path.join(src, "station_name.txt"))
    note("station_name.txt: %d entries, %d distinct names" % (n_entries, len(by_name)))
    for name, codes in sorted(by_name.items()):
        if len(codes) > 1:
            distinct = sorted({c for c, _ in codes})
            note("station name %s listed %d times (telecodes %s); using the first, %s"
                 % (name, len(codes), "/".join(distinct), codes[0][0]))

    files = sorted(glob.glob(os.path.join(src, "trains", "*.json")))
    if not files:
        die("no trains/*.json under %s" % src)

    trains = {}          # train_code -> trains.tsv row
    stops = []           # stops.tsv rows
    used = {}            # telecode -> (name, pinyin)
    anomalies = []       # human-readable notes
    wrapped = []         # (train_code, days crossed)
    revisits = []
    unresolved = defaultdict(set)
    stop_counts = []

    for path in files:
        with open(path, encoding="utf-8") as f:
            t = json.load(f)
        for k in ("Date", "Code", "CodeHuman", "From", "To", "Path"):
            if k not in t:
                die("%s: missing field %s" % (path, k))
        code = t["CodeHuman"]
        if code in trains:
            die("train code %s appears more than once (%s and an earlier file)" % (code, path))
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", t["Date"]):
            die("%s: bad Date %r" % (path, t["Date"]))
        p = t["Path"]
        if len(p) < 2:
            die("%s: fewer than two stops" % path)
        if p[0]["StationName"] != t["From"] or p[-1]["StationName"] != t["To"]:
            anomalies.append("%s: From/To (%s/%s) differ from the first/last stop (%s/%s)"
                             % (code, t["From"], t["To"], p[0]["StationName"], p[-1]["StationName"]))

        # Resolve station names.
        codes = []
        for s in p:
            cands = by_name.get(s["StationName"])
            if not cands:
                unresolved[s["StationName"]].add(code)
                codes.append(None)
                continue
            tc, py = cands[0]
            codes.append(tc)
            used.setdefault(tc, (s["StationName"], py))

        # Times: origin has ArrivalTime 0, terminus DepartureTime 0, nothing else may.
        last = len(p) - 1
        for i, s in enumerate(p):
            a, d = s["ArrivalTime"], s["DepartureTime"]
            if not (isinstance(a, int) and isinstance(d, int)):
                die("%s stop %d: non-integer time" % (code, i))
            if (a == 0) != (i == 0) or (d == 0) != (i == last):
                die("%s stop %d (%s): unexpected zero/non-zero time arr=%d dep=%d"
                    % (code, i, s["StationName"], a, d))

        origin_day = p[0]["DepartureTime"] // DAY * DAY
        offset, prev = 0, None
        rel = []  # [(arrive_s, depart_s)]
        raw_backwards = 0
        for i, s in enumerate(p):
            pair = []
            for raw in (s["ArrivalTime"], s["DepartureTime"]):
                if raw == 0:
                    pair.append(None)
                    continue
                v = raw - origin_day + offset
                if prev is not None and v < prev:
                    raw_backwards += 1
                    while v < prev:
                        offset += DAY
                        v += DAY
                if prev is not None and v - prev > SUSPICIOUS_GAP:
                    anomalies.append("%s: %d s gap before %s (stop %d) after unwrapping"
                                     % (code, v - prev, s["StationName"], i))
                pair.append(v)
                prev = v
            rel.append(tuple(pair))
        if raw_backwards:
            wrapped.append((code, raw_backwards, prev // DAY))
        # Sanity: monotonic non-decreasing after unwrapping (true by construction).
        flat = [v for pr in rel for v in pr if v is not None]
        assert all(x <= y for x, y in zip(flat, flat[1:])), code

        named = [s["StationName"] for s in p]
        if len(set(named)) != len(named) or len(set(codes)) != len(codes):
            revisits.append(code)

        for i, (tc, (a, d)) in enumerate(zip(codes, rel)):
            stops.append((code, i, tc, a, d))
        trains[code] = (code, t["Code"], codes[0], codes[-1], t["Date"])
        stop_counts.append((len(p), code))

    if unresolved:
        for name, tr in sorted(unresolved.items()):
            sys.stderr.write("  unresolved station %s (trains %s)\n" % (name, ", ".join(sorted(tr))))
        die("%d station name(s) used by trains do not resolve in station_name.txt" % len(unresolved))

    os.makedirs(out, exist_ok=True)
    write_tsv(os.path.join(out, "stations.tsv"),
              [(tc, nm, py) for tc, (nm, py) in sorted(used.items())])
    stops.sort(key=lambda r: (r[0], r[1]))
    write_tsv(os.path.join(out, "stops.tsv"), stops)
    write_tsv(os.path.join(out, "trains.tsv"), [trains[k] for k in sorted(trains)])

    # Report.
    lo, hi = min(stop_counts), max(stop_counts)
    print("trains: %d" % len(trains))
    print("stop rows: %d" % len(stops))
    print("stations used: %d" % len(used))
    print("stops per train: min %d (%s), max %d (%s)" % (lo[0], lo[1], hi[0], hi[1]))
    print("duplicate train codes: none")
    print("trains revisiting a station: %s" % (", ".join(revisits) or "none"))
    print("trains whose raw times go backwards (past midnight; unwrapped): %d" % len(wrapped))
    for code, n, days in wrapped:
        print("  %s: %d backward step(s), arrives on day +%d" % (code, n, days))
    print("other anomalies: %s" % ("none" if not anomalies else ""))
    for a in anomalies:
        print("  " + a)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
