"""bench/lib/partial.py RAW_DIR — the table of a partial run (scripts/bench --only): medians over
repetitions per scenario (and variant, ID@NAME), with throughput and CPU relative to A when A ran."""
import glob, json, os, re, statistics, sys

raw = sys.argv[1]
runs = {}
for p in sorted(glob.glob(os.path.join(raw, "*.rep*.json"))):
    sid = re.sub(r"\.rep\d+\.json$", "", os.path.basename(p))
    runs.setdefault(sid, []).append(json.load(open(p)))
med = lambda rs, f: statistics.median(f(r) for r in rs)
base = runs.get("A")
base_rps = med(base, lambda r: r["rps"]) if base else None
base_cpu = med(base, lambda r: r["cpu_us_per_request"]) if base else None
print(f"{'id':24} {'reps':>4} {'req/s':>8} {'x A':>5} {'p50 ms':>7} {'p90 ms':>7} {'CPU µs':>7} {'added':>6} {'CPU each run':>24} {'non-2xx':>7}")
for sid, rs in runs.items():
    rps, cpu = med(rs, lambda r: r["rps"]), med(rs, lambda r: r["cpu_us_per_request"])
    each = "/".join(f"{r['cpu_us_per_request']:.0f}" for r in rs)
    xa = f"{rps / base_rps:.2f}" if base_rps else "—"
    added = f"{cpu - base_cpu:.0f}" if base_cpu else "—"
    print(f"{sid:24} {len(rs):>4} {rps:>8.0f} {xa:>5} {med(rs, lambda r: r['latency_us']['p50']) / 1000:>7.2f} "
          f"{med(rs, lambda r: r['latency_us']['p90']) / 1000:>7.2f} {cpu:>7.0f} {added:>6} {each:>24} "
          f"{sum(r['non2xx'] for r in rs):>7}")
