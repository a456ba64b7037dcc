"""bench/lib/criterion.py CRITERION_DIR — collects criterion results: for every benchmark, the title
(new/benchmark.json) and the median and mean point estimates in ns (new/estimates.json). Prints JSON."""
import glob, json, os, sys

out = []
for est in sorted(glob.glob(os.path.join(sys.argv[1], "**", "new", "estimates.json"), recursive=True)):
    new = os.path.dirname(est)
    meta = json.load(open(os.path.join(new, "benchmark.json")))
    e = json.load(open(est))
    out.append({"name": meta.get("full_id") or meta.get("title"),
                "median_ns": e["median"]["point_estimate"], "mean_ns": e["mean"]["point_estimate"]})
print(json.dumps(out, indent=1))
