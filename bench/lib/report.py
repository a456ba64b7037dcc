"""bench/lib/report.py RAW_DIR SCENARIOS_TSV RESULTS_JSON MARKDOWN PNG

Turns the raw runs of scripts/bench into bench/results.json, docs/benchmarks.md and a PNG plot,
and prints the targets as met / not met / pending. Medians over repetitions; ratios from medians.
Targets are reported, never enforced (this script always exits 0 once it has written its files).
"""
import datetime, glob, json, os, statistics, sys

raw, tsv, results_path, md_path, png_path = sys.argv[1:6]
load = lambda p: json.load(open(p))
meta = load(os.path.join(raw, "meta.json"))
status = dict(l.rstrip("\n").split("\t", 1) for l in open(os.path.join(raw, "status.tsv")) if l.strip())

# ---- scenarios -------------------------------------------------------------------------------
scenarios = []
for line in open(tsv):
    if line.startswith("#") or not line.strip():
        continue
    sid, runtime, gateway, crypto, credential, pending, what = line.rstrip("\n").split("\t")
    fname = sid.replace("'", "p")
    runs = [load(p) for p in sorted(glob.glob(os.path.join(raw, f"{fname}.rep*.json")))]
    s = {"id": sid, "runtime": runtime, "gateway": gateway, "crypto": crypto, "credential": credential,
         "what": what, "status": "measured" if runs else "pending",
         "pending_reason": None if runs else status.get(sid, "not run").removeprefix("pending: "),
         "runs": runs, "median": None}
    if runs:
        med = lambda f: statistics.median(f(r) for r in runs)
        s["median"] = {"rps": med(lambda r: r["rps"]),
                       "p50_us": med(lambda r: r["latency_us"]["p50"]),
                       "p90_us": med(lambda r: r["latency_us"]["p90"]),
                       "p99_us": med(lambda r: r["latency_us"]["p99"]),
                       "cpu_us_per_request": med(lambda r: r["cpu_us_per_request"]),
                       "non2xx": sum(r["non2xx"] for r in runs),
                       "socket_errors": sum(r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"] for r in runs)}
    scenarios.append(s)
by_id = {s["id"]: s for s in scenarios}
m = lambda sid, k: (by_id.get(sid) or {}).get("median") and by_id[sid]["median"][k]

base_rps, base_cpu = m("A", "rps"), m("A", "cpu_us_per_request")
for s in scenarios:
    if s["median"] and s["runtime"] == "workerd" and base_rps:
        s["median"]["x_passthrough"] = s["median"]["rps"] / base_rps
        s["median"]["added_cpu_us"] = s["median"]["cpu_us_per_request"] - base_cpu

# edgeward / jose, same checks, same runtime
ratios = []
for stem in ["B", "B'", "C"]:
    for backend in ["web", "rust", "full"]:
        if f"{stem}.{backend}" not in by_id:
            continue
        e, j = by_id.get(f"{stem}.{backend}"), by_id.get(f"{stem}.jose")
        r = {"edgeward": f"{stem}.{backend}", "jose": f"{stem}.jose"}
        if e and j and e["median"] and j["median"]:
            em, jm = e["median"], j["median"]
            r.update(rps=em["rps"] / jm["rps"], cpu=em["cpu_us_per_request"] / jm["cpu_us_per_request"],
                     added_cpu=(em["added_cpu_us"] / jm["added_cpu_us"]) if jm.get("added_cpu_us", 0) > 0 else None,
                     p50=em["p50_us"] / jm["p50_us"])
        else:
            r["pending"] = "needs both sides measured"
        ratios.append(r)

native = load(os.path.join(raw, "native.json"))
sizes = load(os.path.join(raw, "sizes.json"))
cold = {os.path.basename(p)[5:-5]: load(p) for p in sorted(glob.glob(os.path.join(raw, "cold.*.json")))}
growth_size, growth_chain = [], []
for p in glob.glob(os.path.join(raw, "growth.size.*.json")):
    r = load(p); r["token_bytes"] = int(p.split(".")[-2]); growth_size.append(r)
for p in glob.glob(os.path.join(raw, "growth.chain.*.json")):
    r = load(p); r["chain_certs"] = int(p.split(".")[-2]); growth_chain.append(r)
growth_size.sort(key=lambda r: r["token_bytes"]); growth_chain.sort(key=lambda r: r["chain_certs"])

# ---- targets (reported, never enforced) -----------------------------------------------------------
def target(name, value, limit, better, unit, pending=None, note=None):
    if value is None:
        st = "pending"
    else:
        st = "met" if (value <= limit if better == "<=" else value >= limit) else "not met"
    return {"name": name, "value": value, "limit": f"{better} {limit}{unit}", "status": st,
            "pending_reason": pending if value is None else None, "note": note}

def added_ratio(stem):
    r = next((r for r in ratios if r["edgeward"] == f"{stem}.web"), {})
    return r.get("added_cpu")

sz = {s["name"]: s for s in sizes}
targets = [
    target("warm x5c JWT + DPoP on Workers: added CPU vs jose (C.web vs C.jose)", added_ratio("C"), 0.5, "<=", "×",
           pending=(by_id.get("C.web") or {}).get("pending_reason") or "C.jose not measured",
           note="added CPU = workerd CPU per request minus pass-through's"),
    target("x5c JWT only (no DPoP) on Workers: added CPU vs jose (B.web vs B.jose; anchor: JWT only ≤ 0.5×)",
           added_ratio("B"), 0.5, "<=", "×", pending="B not measured",
           note="jose does not validate the chain and verifies every request; B.web serves the repeated token from its verified-token cache, B.full verifies each one"),
    target("gateway throughput vs pass-through (B.web x5c JWT, req/s ÷ A)", m("B.web", "x_passthrough"), 0.85, ">=", "×",
           pending="B.web or A not measured"),
    target("gateway throughput vs pass-through (B'.web JWKS JWT, req/s ÷ A)", m("B'.web", "x_passthrough"), 0.85, ">=", "×",
           pending="B'.web or A not measured"),
    target("Workers function gzip size (KB = 1000 bytes; index_bg.wasm + index.js)",
           (sz["edgeward Workers (index_bg.wasm)"]["gzip"] + sz["edgeward Workers JS shim (index.js)"]["gzip"]) / 1000, 250, "<=", " KB"),
    target("Spin component gzip size (KB = 1000 bytes)", sz["edgeward Spin component"]["gzip"] / 1000, 250, "<=", " KB"),
    target("Workers function gzip size, configuration baked in (KB; index_bg.wasm + index.js)",
           (sz["edgeward Workers, configuration baked in (index_bg.wasm)"]["gzip"]
            + sz["edgeward Workers, configuration baked in, JS shim (index.js)"]["gzip"]) / 1000, 250, "<=", " KB",
           note="EDGEWARD_BAKE_CONFIG with this run's configuration: the function takes no other one"),
    target("Spin component gzip size, configuration baked in (KB)",
           sz["edgeward Spin component, configuration baked in"]["gzip"] / 1000, 250, "<=", " KB"),
    target("embedded Rego decision on Workers: added CPU per request (µs, R.web - B.web; small RBAC policy)",
           m("R.web", "cpu_us_per_request") - m("B.web", "cpu_us_per_request")
           if m("R.web", "cpu_us_per_request") and m("B.web", "cpu_us_per_request") else None, 100, "<=", " µs",
           pending="R.web or B.web not measured", note="the policy function; regorus evaluates on every request"),
    target("cached remote decision on Workers: added CPU per request (µs, D.web - B.web)",
           m("D.web", "cpu_us_per_request") - m("B.web", "cpu_us_per_request")
           if m("D.web", "cpu_us_per_request") and m("B.web", "cpu_us_per_request") else None, 10, "<=", " µs",
           pending="D.web or B.web not measured", note="OPA Data API decision from the isolate's cache"),
    target("Spin hot path: wasmtime CPU per x5c request (ms, S.B)",
           (m("S.B", "cpu_us_per_request") or 0) / 1000 if m("S.B", "cpu_us_per_request") else None, 1.5, "<=", " ms",
           pending="S.B not measured", note="each wasi:http request is a fresh instance"),
]

results = {
    "schema": 1,
    "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "mode": meta["mode"],
    "noisy": meta["mode"] == "quick",
    "method": meta["method"], "machine": meta["machine"], "versions": meta["versions"],
    "scenarios": scenarios, "ratios_edgeward_over_jose": ratios, "targets": targets,
    "native_criterion": native, "cold_start": cold, "sizes": sizes,
    "growth": {"token_size": growth_size, "chain_length": growth_chain},
}
with open(results_path, "w") as f:
    json.dump(results, f, indent=1)
    f.write("\n")

# ---- console -----------------------------------------------------------------------------------
for t in targets:
    v = "—" if t["value"] is None else f"{t['value']:.3g}"
    why = f" ({t['pending_reason']})" if t["status"] == "pending" else ""
    print(f"    target {t['status']:>8}: {t['name']}: {v} (want {t['limit']}){why}", file=sys.stderr)

# ---- plot ----------------------------------------------------------------------------------------
plotted = False
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    done = [s for s in scenarios if s["median"]]
    colour = lambda s: {"passthrough": "#999999", "jose": "#e39b2d"}.get(s["gateway"], "#2d6fe3" if s["runtime"] == "workerd" else "#2fa35a")
    fig, ax = plt.subplots(2, 2, figsize=(13, 8.5))
    labels = [s["id"] for s in done]
    ax[0][0].bar(labels, [s["median"]["rps"] for s in done], color=[colour(s) for s in done])
    ax[0][0].set_title("throughput (req/s, 16 connections; higher is better)")
    ax[0][1].bar(labels, [s["median"]["cpu_us_per_request"] for s in done], color=[colour(s) for s in done])
    ax[0][1].set_title("gateway process CPU per request (µs; lower is better)")
    for a in ax[0]:
        a.tick_params(axis="x", rotation=45)
    if growth_size:
        ax[1][0].plot([r["token_bytes"] / 1024 for r in growth_size], [r["latency_us"]["p50"] / 1000 for r in growth_size], "o-", label="p50 latency (ms)")
        ax[1][0].plot([r["token_bytes"] / 1024 for r in growth_size], [r["cpu_us_per_request"] / 1000 for r in growth_size], "s--", label="CPU per request (ms)")
        ax[1][0].set_xscale("log", base=2); ax[1][0].set_xlabel("token size (KiB)"); ax[1][0].legend()
        ax[1][0].set_title("edgeward (workerd, WebCrypto, JWKS JWT) vs token size")
    if growth_chain:
        ax[1][1].plot([r["chain_certs"] for r in growth_chain], [r["latency_us"]["p50"] / 1000 for r in growth_chain], "o-", label="p50 latency (ms)")
        ax[1][1].plot([r["chain_certs"] for r in growth_chain], [r["cpu_us_per_request"] / 1000 for r in growth_chain], "s--", label="CPU per request (ms)")
        ax[1][1].set_xticks([1, 2, 3, 4]); ax[1][1].set_xlabel("certificates in x5c"); ax[1][1].legend()
        ax[1][1].set_title("edgeward (workerd, WebCrypto, x5c JWT) vs chain length")
    title = f"edgeward benchmarks — {meta['mode']} run {results['created'][:10]}"
    if meta["mode"] == "quick":
        title += " (QUICK, NOISY: machinery check only)"
    fig.suptitle(title + "\nblue: edgeward on workerd · orange: jose on workerd · green: edgeward on wasmtime · grey: pass-through")
    fig.tight_layout()
    fig.savefig(png_path, dpi=90)
    plotted = True
except ImportError:
    print("    matplotlib missing: no plot", file=sys.stderr)

# ---- markdown -------------------------------------------------------------------------------------
f1 = lambda v, d=0: "—" if v is None else f"{v:,.{d}f}"
rel = lambda p: os.path.relpath(p, os.path.dirname(md_path))
L = []
w = L.append
w("# Benchmarks\n")
w("<!-- Generated by scripts/bench (bench/lib/report.py); edit the generator, not this file. -->\n")
if meta["mode"] == "quick":
    w(f"> **These are the numbers of a quick run (`scripts/bench --quick`, {meta['method']['duration_s']} s runs, one "
      "repetition) on a shared, busy machine while other builds were running (load average at the end: "
      f"{' '.join(meta['machine']['load_average_at_end'])} on {meta['machine']['nproc']} cores). They show that the machinery works; "
      "they are noise, not measurements. The full run (`scripts/bench`) on a quiet machine replaces them.**\n")
w(f"Run {results['created']} · mode **{meta['mode']}** · {meta['machine']['nproc']} × {meta['machine']['cpu_model']} · "
  f"{meta['versions']['workerd']} (npm workerd {meta['versions'].get('workerd_npm', '?')}) · {meta['versions']['wrk']} · "
  f"{meta['versions']['nginx']} · "
  f"{meta['versions']['rustc']} · {meta['versions']['wasmtime']} · jose {meta['versions']['jose']} · "
  f"edgeward {meta['versions']['edgeward']}. Machine-readable: [`bench/results.json`]({rel(results_path)}).\n")
if plotted:
    w(f"![scenarios side by side]({rel(png_path)})\n")

w("## Scenarios\n")
w("Medians over repetitions. *× A* is throughput relative to the pass-through worker; *CPU* is the gateway process's "
  "CPU time (utime + stime from `/proc/<pid>/stat`) over the run divided by the requests served; *added* is that minus A's.\n")
w("| id | runtime | gateway | crypto | sends | req/s | × A | p50 ms | p90 ms | p99 ms | CPU µs/req | added µs | non-2xx |")
w("|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for s in scenarios:
    md = s["median"]
    if md:
        w(f"| {s['id']} | {s['runtime']} | {s['gateway']} | {s['crypto']} | {s['what']} | {f1(md['rps'])} | "
          f"{f1(md.get('x_passthrough'), 2)} | {f1(md['p50_us'] / 1000, 2)} | {f1(md['p90_us'] / 1000, 2)} | "
          f"{f1(md['p99_us'] / 1000, 2)} | {f1(md['cpu_us_per_request'])} | {f1(md.get('added_cpu_us'))} | {md['non2xx']} |")
    else:
        w(f"| {s['id']} | {s['runtime']} | {s['gateway']} | {s['crypto']} | {s['what']} | *pending: {s['pending_reason']}* ||||||||")
w("")
w("## edgeward ÷ jose (same runtime, same tokens)\n")
w("Below 1 means edgeward is cheaper for CPU and added CPU, faster for p50; above 1 means more requests/s.\n")
w("| edgeward | jose | req/s ratio | CPU/req ratio | added-CPU ratio | p50 ratio |")
w("|---|---|---:|---:|---:|---:|")
for r in ratios:
    if "pending" in r:
        w(f"| {r['edgeward']} | {r['jose']} | *pending ({(by_id.get(r['edgeward']) or {}).get('pending_reason') or r['pending']})* ||||")
    else:
        w(f"| {r['edgeward']} | {r['jose']} | {f1(r['rps'], 2)} | {f1(r['cpu'], 2)} | {f1(r['added_cpu'], 2)} | {f1(r['p50'], 2)} |")
w("")
w("## Targets (reported, never enforced)\n")
w("| target | value | want | status |")
w("|---|---:|---|---|")
for t in targets:
    st = t["status"] + (f" — {t['pending_reason']}" if t["status"] == "pending" else "")
    note = f" ({t['note']})" if t.get("note") else ""
    w(f"| {t['name']}{note} | {f1(t['value'], 2)} | {t['limit']} | **{st}** |")
w("")
steps = {sid: open(os.path.join(raw, f"steps.{sid}.md")).read().strip()
         for sid in ("A0", "B.full") if os.path.exists(os.path.join(raw, f"steps.{sid}.md"))}
if steps:
    w("## Where the time goes (CPU by request step, workerd)\n")
    w("One extra run per scenario with workerd's V8 CPU profiler attached (`scripts/bench` does it after the "
      "scenarios, `bench/lib/profile.mjs`); `bench/lib/steps.mjs` sums each sample's self time by the frame on top "
      "of the stack into request steps (the glue's functions, wasm-bindgen's entry and import shims, JS <-> Wasm "
      "transitions, Wasm by crate, the runtime's built-ins) and scales the shares by that run's CPU per request. "
      "The profiler adds CPU of its own: compare shares between runs, not these µs with the table above. Wasm is "
      "split by crate only in a build with `EDGEWARD_KEEP_NAMES=1` (otherwise it is all \"Wasm: other\"). The floors "
      "F.raw, F.init, F.timer and F.rs above price the steps outside edgeward's code.\n")
    for sid, table in steps.items():
        w(f"### {sid}\n")
        w(table)
        w("")
w("## Cold start\n")
w("Time from spawning a fresh process to the first `200` for an x5c-authenticated request (includes loading and "
  "compiling the code, reading the configuration and the first verification), polling every 2 ms. "
  "`-anonymous`: the same process, its first request on the anonymous route (no token to verify); "
  "`-baked`: the gateway built with the same configuration baked in (`EDGEWARD_BAKE_CONFIG`); "
  "`workerd-floor-rs`: the F.rs floor Worker, a workers-rs Worker that only forwards.\n")
w("| process | median ms | min | max | runs |")
w("|---|---:|---:|---:|---:|")
for name, c in cold.items():
    w(f"| {name} | {c['median_ms']} | {c['min_ms']} | {c['max_ms']} | {len(c['runs_ms'])} |")
w("")
w("## Sizes\n")
w("| artefact | raw bytes | gzip -9 bytes |")
w("|---|---:|---:|")
for s in sizes:
    w(f"| {s['name']} (`{s['file']}`) | {s['raw']:,} | {s['gzip']:,} |")
w("")
w("## How cost grows\n")
w(f"edgeward on workerd with WebCrypto, one {meta['method']['growth_duration_s']} s run per point after a 1 s warm-up.\n")
w("| token bytes (JWKS JWT, padded claim) | req/s | p50 ms | p99 ms | CPU µs/req | non-2xx |")
w("|---:|---:|---:|---:|---:|---:|")
for r in growth_size:
    w(f"| {r['token_bytes']:,} | {f1(r['rps'])} | {f1(r['latency_us']['p50'] / 1000, 2)} | {f1(r['latency_us']['p99'] / 1000, 2)} | {f1(r['cpu_us_per_request'])} | {r['non2xx']} |")
w("")
w("The default x5c budget `max_path_len` is 4 counting leaf and anchor, so an `x5c` of 4 certificates (leaf + 3 "
  "intermediates, path of 5 with the root) is rejected (`401 ERR_X5C_UNTRUSTED`): its row is the cost of that "
  "rejection, and its non-2xx count is every request.\n")
w("| certificates in x5c (leaf + intermediates) | req/s | p50 ms | p99 ms | CPU µs/req | non-2xx |")
w("|---:|---:|---:|---:|---:|---:|")
for r in growth_chain:
    w(f"| {r['chain_certs']} | {f1(r['rps'])} | {f1(r['latency_us']['p50'] / 1000, 2)} | {f1(r['latency_us']['p99'] / 1000, 2)} | {f1(r['cpu_us_per_request'])} | {r['non2xx']} |")
w("")
w("## Native micro-benchmarks (criterion, median)\n")
w("`cargo bench -p edgeward --bench verify --bench dpop --bench pipeline`: the core compiled natively at `opt-level = 3`, RustCrypto: JWS parse and verify per algorithm, x5c chain cold and cached, DPoP proof checks, the whole pipeline with a fake platform (opaque tokens included: an introspection answer parsed, or cached), RFC 9421 signing of a forwarded request.\n")
w("| benchmark | median µs |")
w("|---|---:|")
for n in native:
    w(f"| {n['name']} | {n['median_ns'] / 1000:,.2f} |")
w("")
w(open(os.path.join(os.path.dirname(__file__), "method.md")).read().rstrip() + "\n")
with open(md_path, "w") as f:
    f.write("\n".join(L))
print(f"    wrote {results_path}, {md_path}" + (f", {png_path}" if plotted else ""), file=sys.stderr)
