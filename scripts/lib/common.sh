# Shared helpers for scripts/*. Source it; it defines ROOT, TOOLS and small output helpers.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# Installed tools live in a per-user cache keyed by version, so fresh clones, CI runs and later
# sessions on the same machine reuse them. Override with EDGEWARD_TOOLS.
TOOLS="${EDGEWARD_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/edgeward/tools}"
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
export NO_UPDATE_NOTIFIER=1 WRANGLER_UPDATE_CHECK=false

step() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
info() { printf '    %s\n' "$*" >&2; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# Reads a value "name = \"x\"" version pin for a crate from Cargo.lock (or the lockfile given).
lock_version() {
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' \
    "${2:-$ROOT/Cargo.lock}"
}
