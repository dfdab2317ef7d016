#!/usr/bin/env python3
"""Where a put's time went, from the nodes' `strait::write_path` trace events.

Run the nodes with `--log-level warn,strait::write_path=trace`, send puts one at a time
(for example `strait bench produce --concurrency 1 --rate ...`), then give this script the
log of `strait dev` (its lines carry a `[node N]` prefix) or one log file per node:

    scripts/write-timeline.py dev.log                 # one line per put: node, ms
    scripts/write-timeline.py dev.log --slowest 3     # the three slowest, event by event
    scripts/write-timeline.py n1.log n2.log n3.log --put 0

A put's timeline is every event of every node from the moment its node received it
until that node had every shard's answer, in time order, in milliseconds from receipt.
With more than one put in flight, a put is matched with the next answer its node gave and
events of neighbouring puts show up in its timeline, so its duration is only a guide;
the events of the control group (group 0) are left out.
"""

import argparse
import datetime
import re
import signal
import sys

EVENT = re.compile(
    r"^(?:\[node (?P<node>\d+)\] )?(?P<ts>\d{4}-\d\d-\d\dT[\d:.]+)Z\s+TRACE strait::write_path: (?P<msg>.*)$"
)
RECEIVED = "put received"
ANSWERED = "put answered"


def read_events(paths):
    events = []
    for number, path in enumerate(paths, start=1):
        with open(path, errors="replace") as log:
            for line in log:
                found = EVENT.match(line.rstrip("\n"))
                if not found:
                    continue
                node = int(found["node"]) if found["node"] else number
                when = datetime.datetime.fromisoformat(found["ts"]).timestamp()
                events.append((when, node, found["msg"]))
    events.sort(key=lambda e: e[0])
    return events


def timelines(events):
    """Yields (start index, end index or None) for each put, in the order received."""
    for i, (_, node, msg) in enumerate(events):
        if not msg.startswith(RECEIVED):
            continue
        end = next(
            (j for j in range(i + 1, len(events)) if events[j][1] == node and events[j][2].startswith(ANSWERED)),
            None,
        )
        yield i, end


def show(events, start, end):
    t0, node, _ = events[start]
    print(f"put on node {node}")
    for when, n, msg in events[start : (end if end is not None else len(events) - 1) + 1]:
        if re.search(r"\bgroup=0\b", msg):
            continue
        print(f"{(when - t0) * 1000:9.2f} ms  node {n}  {msg}")


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet when piped into head
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("logs", nargs="+")
    parser.add_argument("--slowest", type=int, metavar="N", help="print the timelines of the N slowest puts")
    parser.add_argument("--put", type=int, metavar="I", help="print the timeline of the I-th put (from 0)")
    args = parser.parse_args()

    events = read_events(args.logs)
    puts = list(timelines(events))
    if not puts:
        sys.exit("no 'put received' events: were the nodes run with --log-level warn,strait::write_path=trace?")
    took = [(events[e][0] - events[s][0]) * 1000 if e is not None else None for s, e in puts]
    if args.put is not None:
        if not 0 <= args.put < len(puts):
            sys.exit(f"there are {len(puts)} puts")
        show(events, *puts[args.put])
    elif args.slowest:
        done = sorted((t, i) for i, t in enumerate(took) if t is not None)
        for t, i in reversed(done[-args.slowest :]):
            print(f"--- put {i}: {t:.2f} ms")
            show(events, *puts[i])
    else:
        for i, ((start, _), t) in enumerate(zip(puts, took)):
            shown = f"{t:.2f} ms" if t is not None else "unanswered"
            print(f"put {i}  node {events[start][1]}  {shown}")


if __name__ == "__main__":
    main()
