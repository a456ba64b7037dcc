"""bench/lib/line.py ID RUN_JSON — one progress line for a measured run."""
import json, sys

sid, r = sys.argv[1], json.load(open(sys.argv[2]))
lat = r["latency_us"]
print(f"{sid:8} {r['rps']:8.0f} req/s  p50 {lat['p50'] / 1000:6.2f} ms  p99 {lat['p99'] / 1000:6.2f} ms  "
      f"CPU {r['cpu_us_per_request']:6.0f} µs/req  non-2xx {r['non2xx']}")
