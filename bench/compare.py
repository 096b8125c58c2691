#!/usr/bin/env python3
"""Runs two builds of unat_bench back to back, alternating, and prints the
median ratio (new / old) of items per second for every benchmark.

  bench/compare.py OLD_BENCH NEW_BENCH [--filter REGEX] [--rounds N]

Both binaries run the same filter, one after the other, N rounds; a ratio
above 1 means the new build is faster. Bytes per flow (the counter
bytes_per_flow) is compared the same way where a benchmark reports it.
"""
import argparse
import json
import statistics
import subprocess

# The rate a benchmark reports, in order of preference (new flows report
# flows per second).
RATES = ("Mflows_per_s", "Mfrag_per_s", "items_per_second", "Mpps")


def run(binary, flt, min_time):
    out = subprocess.run(
        [binary, f"--benchmark_filter={flt}",
         f"--benchmark_min_time={min_time}", "--benchmark_format=json"],
        check=True, capture_output=True, text=True).stdout
    res = {}
    for b in json.loads(out)["benchmarks"]:
        res[b["name"]] = b
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--filter", default=".")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--min-time", default="0.3")
    a = ap.parse_args()
    ratios, old_ips, mem = {}, {}, {}
    for _ in range(a.rounds):
        o = run(a.old, a.filter, a.min_time)
        n = run(a.new, a.filter, a.min_time)
        for name, nb in n.items():
            ob = o.get(name)
            key = next((k for k in RATES if k in nb), None)
            if not ob or key is None or key not in ob:
                continue
            ratios.setdefault(name, []).append(nb[key] / ob[key])
            old_ips.setdefault(name, []).append(ob[key])
            if "bytes_per_flow" in nb and "bytes_per_flow" in ob:
                mem[name] = (ob["bytes_per_flow"], nb["bytes_per_flow"])
    print(f"{'benchmark':58} {'old rate':>9} {'new/old':>8}  (rounds)")
    for name, r in ratios.items():
        old = statistics.median(old_ips[name])
        print(f"{name:58} {old / 1e6 if old > 1e4 else old:9.2f} "
              f"{statistics.median(r):8.3f}  "
              + " ".join(f"{x:.3f}" for x in r))
    for name, (o, n) in mem.items():
        print(f"{name:58} bytes/flow {o:.2f} -> {n:.2f}")


if __name__ == "__main__":
    main()
