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

# Sources scripts/setup: its tool variables into this shell. Its progress lines are hidden, unless
# `--show` is given; if it fails, they are shown after all, ending with the failing step and its
# error, and the script exits non-zero, so a failed setup never ends a script silently. Call it as
# a plain command (not after `||` or in `if`: bash would then ignore `set -e` inside setup). An
# EXIT trap set before is kept.
load_setup() {
  local log="" previous
  previous=$(trap -p EXIT)
  [ "${1:-}" = --show ] || log=$(mktemp)
  # setup runs with `set -e`: a failing command or a `die` exits this shell, through this trap.
  # Its output may have gone to the log, so the trap writes to the stderr saved in fd 3.
  exec 3>&2
  # shellcheck disable=SC2064 # $log is expanded now, on purpose
  trap "status=\$?; [ -z '$log' ] || { cat '$log' >&3; rm -f '$log'; }
    printf '\\033[31merror:\\033[0m scripts/setup failed (exit %s): see its last step above\\n' \"\$status\" >&3
    exit \"\$status\"" EXIT
  if [ -z "$log" ]; then
    # shellcheck source=../setup
    source "$ROOT/scripts/setup" >&2
  else
    # shellcheck source=../setup
    source "$ROOT/scripts/setup" >"$log" 2>&1
    rm -f "$log"
  fi
  if [ -n "$previous" ]; then eval "$previous"; else trap - EXIT; fi
  exec 3>&-
}
