"""check.py RECORD REPORT [--dup-extra N] [--dup-max N] [--people FILE]

Compares a banditore send/resume JSON report with wa-mock's record (one
JSON line per accepted message: to, wamid, tag, type, t_ms) for the
report's notice (tags "<notice_id>:<ordinal>"):

  - every recipient ended accepted or failed with a reason: state done,
    remaining 0, accepted + failed + skipped == recipients;
  - failed_by_code sums to failed and names real codes;
  - the record's distinct recipients of this notice == accepted, and each
    tag's ordinal names one recipient only (no mix-ups);
  - extra acceptances (records beyond the first per recipient) are
    exactly --dup-extra when given, and at most --dup-max (default 0:
    "no recipient accepted twice");
  - with --stalls N (wa-mock's stalled answers: accepted, recorded, but a
    time-out for the sender), records == accepted + N instead of the
    distinct-recipients rule: a stalled copy whose re-send then failed
    permanently is a recorded recipient reported failed;
  - with --people, every recorded number is one of the subscribers.
Prints "accepted=… extra=… uncertain=…" on success; exits 1 with a reason.
"""
import json
import sys


def main():
    args = sys.argv[1:]
    rec, rep = args[0], args[1]
    opts = {}
    i = 2
    while i < len(args):
        opts[args[i]] = args[i + 1]
        i += 2
    r = json.load(open(rep))
    nid = r["notice_id"]
    by_to = {}
    by_ord = {}
    total = 0
    for line in open(rec):
        m = json.loads(line)
        tag = m["tag"]
        if not tag.startswith(nid + ":"):
            continue
        total += 1
        ordinal = int(tag.split(":")[1])
        by_to[m["to"]] = by_to.get(m["to"], 0) + 1
        prev = by_ord.setdefault(ordinal, m["to"])
        if prev != m["to"]:
            sys.exit("ordinal %d sent to two numbers" % ordinal)
    errs = []
    if r["state"] != "done":
        errs.append("state %s" % r["state"])
    if r["remaining"] != 0:
        errs.append("remaining %d" % r["remaining"])
    skipped = r["skipped_unsubscribed"] + r["skipped_invalid"]
    if r["accepted"] + r["failed"] + skipped != r["recipients"]:
        errs.append("accepted %d + failed %d + skipped %d != recipients %d" %
                    (r["accepted"], r["failed"], skipped, r["recipients"]))
    fsum = sum(r["failed_by_code"].values())
    if fsum != r["failed"]:
        errs.append("failed_by_code sums to %d, failed %d" % (fsum, r["failed"]))
    for k in r["failed_by_code"]:
        if k == "0":
            errs.append("a failure without a reason (code 0)")
    extra = total - len(by_to)
    if "--stalls" in opts:
        # A stalled request was accepted and recorded, but the sender saw a
        # time-out (uncertain) and sent it again. Usually the re-send is
        # accepted too (an extra record); when wa-mock's seeded faults give
        # the re-send a permanent error (131026), the recipient is reported
        # failed although its first copy was recorded. Either way every
        # stall adds exactly one record beyond the accepted ones, and the
        # recorded-but-failed recipients are among the failures.
        stalls = int(opts["--stalls"])
        if total != r["accepted"] + stalls:
            errs.append("record has %d messages, report accepted %d + %d stalls" %
                        (total, r["accepted"], stalls))
        if not r["accepted"] <= len(by_to) <= r["accepted"] + min(stalls, r["failed"]):
            errs.append("record has %d distinct recipients, report accepted %d "
                        "(failed %d, stalls %d)" % (len(by_to), r["accepted"], r["failed"], stalls))
    elif len(by_to) != r["accepted"]:
        errs.append("record has %d distinct recipients, report accepted %d" %
                    (len(by_to), r["accepted"]))
    if "--dup-extra" in opts and extra != int(opts["--dup-extra"]):
        errs.append("extra acceptances %d, expected %s" % (extra, opts["--dup-extra"]))
    if extra > int(opts.get("--dup-max", "0")):
        errs.append("extra acceptances %d > %s" % (extra, opts.get("--dup-max", "0")))
    if "--people" in opts:
        people = set(l.strip() for l in open(opts["--people"]) if l.strip())
        stray = [t for t in by_to if t not in people]
        if stray:
            errs.append("%d recorded numbers are not subscribers" % len(stray))
    if errs:
        sys.exit("; ".join(errs))
    print("accepted=%d failed=%d extra=%d uncertain=%d retried=%d" %
          (r["accepted"], r["failed"], extra, r["uncertain"], r["retried"]))


main()
