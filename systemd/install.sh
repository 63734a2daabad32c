#!/usr/bin/env bash
# Installs outpostd as a systemd service from a built source tree (npm ci && npm run build).
#
#   sudo systemd/install.sh                  install or upgrade, enable and start, wait for /healthz
#   systemd/install.sh --root DIR            stage everything under DIR (packaging, tests): no
#                                            useradd, no systemctl, no root needed
#   sudo systemd/install.sh --uninstall      stop, disable, remove the unit and the prefix
#   sudo systemd/install.sh --uninstall --purge   ... and /var/lib/outpost, /etc/outpost, the user
#
# Idempotent: re-running upgrades the code and restarts the service; an existing
# /etc/outpost/outpost.toml or /etc/outpost/outpostd.env is never overwritten.
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX=/opt/outpost
ROOT=
DRY_RUN=0
UNINSTALL=0
PURGE=0
NODE_BIN=
NPM_CI=0
UNIT_NAME=outpostd.service
SVC_USER=outpost
PORT=44000

usage() {
  cat <<EOF
usage: $0 [options]
  --prefix DIR     install location of the code (default /opt/outpost)
  --root DIR       stage into DIR (all paths prefixed); skips useradd and systemctl
  --src DIR        built source tree to install from (default: $SRC)
  --node PATH      node binary for ExecStart (default: the node on PATH)
  --npm-ci         run 'npm ci --omit=dev --ignore-scripts' in the target instead of copying
                   the production dependencies from the source tree's node_modules
  --dry-run        print what would be done, change nothing
  --uninstall      stop and disable the service, remove the unit, the CLI link and the prefix
  --purge          with --uninstall: also remove /var/lib/outpost, /etc/outpost and the user
  -h, --help       this text
EOF
}

die() { echo "install.sh: $*" >&2; exit 1; }
log() { echo "==> $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || die "--prefix needs a value"; PREFIX="$2"; shift 2 ;;
    --prefix=*) PREFIX="${1#*=}"; shift ;;
    --root) [ $# -ge 2 ] || die "--root needs a value"; ROOT="$2"; shift 2 ;;
    --root=*) ROOT="${1#*=}"; shift ;;
    --src) [ $# -ge 2 ] || die "--src needs a value"; SRC="$2"; shift 2 ;;
    --src=*) SRC="${1#*=}"; shift ;;
    --node) [ $# -ge 2 ] || die "--node needs a value"; NODE_BIN="$2"; shift 2 ;;
    --node=*) NODE_BIN="${1#*=}"; shift ;;
    --npm-ci) NPM_CI=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    --uninstall) UNINSTALL=1; shift ;;
    --purge) PURGE=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

# --- sanity -------------------------------------------------------------------------------
[ -d "$SRC" ] || die "--src $SRC is not a directory"
SRC="$(cd "$SRC" && pwd -P)" # physical path: npm ls prints real paths
case "$PREFIX" in
  /*) ;;
  *) die "--prefix must be an absolute path (got '$PREFIX')" ;;
esac
PREFIX="${PREFIX%/}"
case "$PREFIX" in
  ""|/usr|/usr/local|/opt|/etc|/var|/var/lib|/home|/root|/bin|/sbin|/lib|/tmp)
    die "refusing --prefix '$PREFIX': it must be a directory of its own, e.g. /opt/outpost" ;;
esac
if [ -n "$ROOT" ]; then
  [ "$DRY_RUN" = 1 ] || mkdir -p "$ROOT"
  [ "$DRY_RUN" = 1 ] && [ ! -d "$ROOT" ] || ROOT="$(cd "$ROOT" && pwd)"
  [ "$ROOT" != "/" ] || ROOT=
fi
if [ -z "$ROOT" ] && [ "$DRY_RUN" = 0 ] && [ "$(id -u)" -ne 0 ]; then
  die "must run as root (or use --root DIR to stage, or --dry-run)"
fi
if [ "$PURGE" = 1 ] && [ "$UNINSTALL" = 0 ]; then die "--purge only makes sense with --uninstall"; fi

DEST="$ROOT$PREFIX"
ETC="$ROOT/etc/outpost"
STATE="$ROOT/var/lib/outpost"
UNIT_DIR="$ROOT/etc/systemd/system"
UNIT="$UNIT_DIR/$UNIT_NAME"
DROPIN_DIR="$UNIT_DIR/$UNIT_NAME.d"
SYSCTL_FILE="$ROOT/etc/sysctl.d/60-outpost-reserved-ports.conf"
CLI_LINK="$ROOT/usr/local/bin/outpost"

# systemctl/useradd only act on the real system: never with --root.
HAVE_SYSTEMD=0
if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then HAVE_SYSTEMD=1; fi

# Runs a command, or prints it with --dry-run.
run() {
  if [ "$DRY_RUN" = 1 ]; then printf '[dry-run]'; printf ' %q' "$@"; printf '\n'; return 0; fi
  "$@"
}

# Commands that only make sense on a live systemd host: run them there, print them otherwise.
sysrun() {
  if [ "$HAVE_SYSTEMD" = 1 ]; then run "$@"; return; fi
  printf '[skipped: %s]' "$([ -n "$ROOT" ] && echo "--root staging" || echo "systemd is not running")"
  printf ' %q' "$@"; printf '\n'
}

# write_file MODE PATH < content: creates PATH with MODE only if it does not exist yet.
write_new_file() {
  local mode="$1" path="$2" content
  content="$(cat)"
  if [ -e "$path" ]; then log "keeping existing $path"; return 0; fi
  if [ "$DRY_RUN" = 1 ]; then echo "[dry-run] write $path (mode $mode)"; return 0; fi
  local tmp
  tmp="$(mktemp "$path.XXXXXX")"
  chmod "$mode" "$tmp"
  printf '%s\n' "$content" >"$tmp"
  mv "$tmp" "$path"
  log "wrote $path (mode $mode)"
}

# Refuses to delete a prefix that does not look like an outpost install.
is_outpost_tree() {
  [ -f "$1/package.json" ] && grep -q '"name": *"outpost"' "$1/package.json"
}

# --- uninstall ----------------------------------------------------------------------------
if [ "$UNINSTALL" = 1 ]; then
  if [ "$HAVE_SYSTEMD" = 1 ]; then
    run systemctl disable --now "$UNIT_NAME" || true
  else
    sysrun systemctl disable --now "$UNIT_NAME"
  fi
  if [ -e "$UNIT" ]; then run rm -f "$UNIT"; fi
  if [ -e "$DROPIN_DIR/notify-fd.conf" ]; then run rm -f "$DROPIN_DIR/notify-fd.conf"; fi
  # The reservation stays in the running kernel until the next boot.
  if [ -e "$SYSCTL_FILE" ]; then run rm -f "$SYSCTL_FILE"; fi
  sysrun systemctl daemon-reload
  if [ -L "$CLI_LINK" ] && [ "$(readlink "$CLI_LINK")" = "$PREFIX/dist/daemon/cli/outpost.js" ]; then run rm -f "$CLI_LINK"; fi
  if [ -d "$DEST" ]; then
    is_outpost_tree "$DEST" || die "$DEST does not look like an outpost install (no package.json named outpost); not removing it"
    run rm -rf "$DEST"
  fi
  if [ "$PURGE" = 1 ]; then
    run rm -rf "$STATE" "$ETC"
    if [ -z "$ROOT" ]; then
      if id -u "$SVC_USER" >/dev/null 2>&1; then run userdel "$SVC_USER"; fi
      if getent group "$SVC_USER" >/dev/null 2>&1; then run groupdel "$SVC_USER"; fi
    fi
    log "uninstalled and purged"
  else
    log "uninstalled (kept $STATE and $ETC; --purge removes them)"
  fi
  exit 0
fi

# --- install: preflight -------------------------------------------------------------------
[ -f "$SRC/dist/daemon/main.js" ] || die "$SRC/dist/daemon/main.js not found: build first (npm ci && npm run build)"
[ -f "$SRC/package.json" ] && [ -f "$SRC/package-lock.json" ] || die "$SRC has no package.json/package-lock.json"
if [ "$NPM_CI" = 0 ] && [ ! -d "$SRC/node_modules" ]; then die "$SRC/node_modules not found: run npm ci there, or pass --npm-ci"; fi

if [ -z "$NODE_BIN" ]; then NODE_BIN="$(command -v node || true)"; fi
[ -n "$NODE_BIN" ] || die "node not found on PATH (install Node 20, or pass --node PATH)"
case "$NODE_BIN" in /*) ;; *) die "--node must be an absolute path (got '$NODE_BIN')" ;; esac
[ -x "$NODE_BIN" ] || die "$NODE_BIN is not executable"
NODE_MAJOR="$("$NODE_BIN" -p 'process.versions.node.split(".")[0]')"
[ "$NODE_MAJOR" = 20 ] || echo "install.sh: warning: $NODE_BIN is Node $NODE_MAJOR; outpost targets Node 20" >&2
case "$NODE_BIN" in
  /home/*|/root/*|/run/user/*)
    echo "install.sh: warning: $NODE_BIN is under a home directory, which systemd/hardened.conf (ProtectHome=yes) hides from the service; install Node system-wide (e.g. /usr/bin/node)" >&2 ;;
esac

# --- user ---------------------------------------------------------------------------------
if [ -z "$ROOT" ]; then
  if ! getent group "$SVC_USER" >/dev/null 2>&1; then run groupadd --system "$SVC_USER"; fi
  # The run-as account of SSH sessions and commands (ssh.run_as), with a shell and a home.
  if ! id -u "$SVC_USER" >/dev/null 2>&1; then
    run useradd --system --create-home --home-dir /home/"$SVC_USER" --shell /bin/bash \
      --gid "$SVC_USER" --comment "Outpost sessions and commands" "$SVC_USER"
  elif [ "$(getent passwd "$SVC_USER" | cut -d: -f7)" = /usr/sbin/nologin ]; then
    # Upgrade from a data-plane-only install, where the account could not log in.
    run usermod --shell /bin/bash --home /home/"$SVC_USER" --move-home "$SVC_USER"
    run mkdir -p /home/"$SVC_USER"
    run chown "$SVC_USER:$SVC_USER" /home/"$SVC_USER"
  fi
else
  log "staging root: not creating user '$SVC_USER' (the package's install step must)"
fi

# --- code ---------------------------------------------------------------------------------
# Build the new tree next to the old one and swap, so an upgrade never leaves a half copy.
log "installing code to $DEST"
NEW="$DEST.new.$$"
if [ "$DRY_RUN" = 1 ]; then
  echo "[dry-run] copy package.json, package-lock.json, dist/ (without tests), daemon/**/*.proto and production node_modules to $DEST"
else
  umask 022
  mkdir -p "$(dirname "$DEST")"
  rm -rf "$NEW"
  trap 'rm -rf "$NEW"' EXIT
  mkdir -p "$NEW/dist" "$NEW/systemd"
  cp "$SRC/package.json" "$SRC/package-lock.json" "$NEW/"
  for d in "$SRC"/dist/*; do
    case "$(basename "$d")" in test|bench) continue ;; esac
    cp -R "$d" "$NEW/dist/"
  done
  cp "$SRC/systemd/outpostd.service" "$SRC/systemd/install.sh" "$SRC/systemd/hardened.conf" \
     "$SRC/systemd/notify-fd.conf" "$SRC/systemd/60-outpost-reserved-ports.conf" "$NEW/systemd/"
  # Protobuf schemas are read at run time from the source tree's layout (daemon/**/*.proto).
  (cd "$SRC" && find daemon -name '*.proto') | while read -r f; do
    mkdir -p "$NEW/$(dirname "$f")" && cp "$SRC/$f" "$NEW/$f"
  done
  [ ! -f "$SRC/systemd/README.md" ] || cp "$SRC/systemd/README.md" "$NEW/systemd/"
  chmod 0755 "$NEW/dist/daemon/main.js"
  [ ! -f "$NEW/dist/daemon/cli/outpost.js" ] || chmod 0755 "$NEW/dist/daemon/cli/outpost.js"
  if [ "$NPM_CI" = 1 ]; then
    # --ignore-scripts: our `prepare` runs tsc, a devDependency that --omit=dev leaves out.
    (cd "$NEW" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund)
  else
    # Copy exactly the production dependency closure of the (already built) source tree.
    deps="$(cd "$SRC" && npm ls --omit=dev --all --parseable 2>/dev/null)" \
      || die "npm ls failed in $SRC: its node_modules does not match package-lock.json (run npm ci there)"
    mkdir -p "$NEW/node_modules"
    while IFS= read -r p; do
      rel="${p#"$SRC"/}"
      case "$rel" in
        node_modules/@*/*/node_modules/*|node_modules/[!@]*/node_modules/*) continue ;; # inside a copied package
        node_modules/@*/*) mkdir -p "$NEW/$(dirname "$rel")"; cp -R "$p" "$NEW/$rel" ;;
        node_modules/*) cp -R "$p" "$NEW/$rel" ;;
      esac
    done <<<"$deps"
  fi
  if [ -d "$DEST" ]; then
    is_outpost_tree "$DEST" || die "$DEST exists and is not an outpost install; not replacing it"
    rm -rf "$DEST.old"
    mv "$DEST" "$DEST.old"
  fi
  mv "$NEW" "$DEST"
  rm -rf "$DEST.old"
  trap - EXIT
fi

# --- CLI on PATH --------------------------------------------------------------------------
run mkdir -p "$(dirname "$CLI_LINK")"
run ln -sfn "$PREFIX/dist/daemon/cli/outpost.js" "$CLI_LINK"

# --- configuration ------------------------------------------------------------------------
run mkdir -p "$ETC"
run chmod 0755 "$ETC"
write_new_file 0644 "$ETC/outpost.toml" <<EOF
# outpostd configuration (see: node $PREFIX/dist/daemon/main.js --help).
# Secrets (MASTER_KEY, API_KEY) go in /etc/outpost/outpostd.env, not here.
data_dir = "/var/lib/outpost"
bind = "127.0.0.1"
api_port = $PORT
log_level = "info"
EOF

gen_key() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }
if [ -e "$ETC/outpostd.env" ] || [ "$DRY_RUN" = 1 ]; then KEY="<generated>"; else KEY="$(gen_key)"; fi
write_new_file 0600 "$ETC/outpostd.env" <<EOF
# Environment for outpostd.service (read by systemd as root; keep mode 0600).
# MASTER_KEY grants every scope; API_KEY (optional) grants the data-plane API only.
MASTER_KEY=$KEY
#API_KEY=
# METRICS_KEY (optional) opens only GET /metrics (both roles): give it to Prometheus.
#METRICS_KEY=
EOF

# State dir: systemd creates and chowns it (StateDirectory=); create it for manual runs too.
if [ -z "$ROOT" ]; then
  run mkdir -p "$STATE"
  run chmod 0700 "$STATE"
  run chown "$SVC_USER:$SVC_USER" "$STATE"
fi

# --- unit ---------------------------------------------------------------------------------
log "installing $UNIT (ExecStart: $NODE_BIN --initial-old-space-size=64 $PREFIX/dist/daemon/main.js)"
run mkdir -p "$UNIT_DIR"
if [ "$DRY_RUN" = 1 ]; then
  echo "[dry-run] write $UNIT (mode 0644)"
else
  tmp="$(mktemp "$UNIT.XXXXXX")"
  sed -E -e "s#^(ExecStart(Post)?)=/usr/bin/node ((--[^ ]+ )*)/opt/outpost/#\\1=$NODE_BIN \\3$PREFIX/#" \
      -e "s#^Documentation=file:/opt/outpost/#Documentation=file:$PREFIX/#" \
      "$SRC/systemd/outpostd.service" >"$tmp"
  grep -q "^ExecStart=$NODE_BIN --initial-old-space-size=64 $PREFIX/dist/daemon/main.js " "$tmp" || { rm -f "$tmp"; die "could not set ExecStart in the unit"; }
  chmod 0644 "$tmp"
  mv "$tmp" "$UNIT"
fi

# systemd >= 253 hands the notify socket to the daemon (OpenFile=); older ones do not know the
# setting, and the daemon falls back to the systemd-notify helper there.
SYSTEMD_VERSION=0
if [ "$HAVE_SYSTEMD" = 1 ]; then
  SYSTEMD_VERSION="$(systemctl --version 2>/dev/null | sed -n '1s/^systemd \([0-9]*\).*/\1/p')"
  SYSTEMD_VERSION="${SYSTEMD_VERSION:-0}"
fi
if [ "$SYSTEMD_VERSION" -ge 253 ]; then
  run mkdir -p "$DROPIN_DIR"
  run install -m 0644 "$SRC/systemd/notify-fd.conf" "$DROPIN_DIR/notify-fd.conf"
else
  log "not installing $DROPIN_DIR/notify-fd.conf (needs systemd >= 253; the daemon uses systemd-notify)"
fi

# --- reserved ports -------------------------------------------------------------------------
# The default ports lie in the kernel's ephemeral range: reserve them so that no outgoing
# connection takes one (see 60-outpost-reserved-ports.conf). An existing file is kept: an
# operator may have merged other reserved ports into it.
if [ -e "$SYSCTL_FILE" ]; then
  log "keeping existing $SYSCTL_FILE"
else
  run mkdir -p "$(dirname "$SYSCTL_FILE")"
  run install -m 0644 "$SRC/systemd/60-outpost-reserved-ports.conf" "$SYSCTL_FILE"
  [ "$DRY_RUN" = 1 ] || log "installed $SYSCTL_FILE"
fi
if [ -z "$ROOT" ] && [ "$DRY_RUN" = 0 ]; then
  # Not fatal: in a container /proc/sys is often read-only; the file applies at the next boot.
  sysctl -p "$SYSCTL_FILE" >/dev/null || echo "install.sh: warning: sysctl -p $SYSCTL_FILE failed; the ports are reserved from the next boot" >&2
elif [ -z "$ROOT" ]; then
  run sysctl -p "$SYSCTL_FILE"
else
  printf '[skipped: --root staging] sysctl -p %q\n' "/etc/sysctl.d/$(basename "$SYSCTL_FILE")"
fi

# --- start --------------------------------------------------------------------------------
if [ -f "$ETC/outpost.toml" ]; then
  p="$(sed -n 's/^[[:space:]]*api_port[[:space:]]*=[[:space:]]*\([0-9]*\).*/\1/p' "$ETC/outpost.toml" | head -n1)"
  [ -z "$p" ] || PORT="$p"
fi
sysrun systemctl daemon-reload
sysrun systemctl enable "$UNIT_NAME"
# restart, not start: a re-run after an upgrade must load the new code.
sysrun systemctl restart "$UNIT_NAME"
# curl -fsS http://127.0.0.1:$PORT/healthz, or the same with node where curl is missing.
healthy() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsS --max-time 2 "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1
  else
    "$NODE_BIN" -e 'fetch(process.argv[1],{signal:AbortSignal.timeout(2000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' \
      "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1
  fi
}
if [ "$HAVE_SYSTEMD" = 1 ] && [ "$DRY_RUN" = 0 ]; then
  log "waiting for http://127.0.0.1:$PORT/healthz"
  for _ in $(seq 1 60); do
    if healthy; then
      log "outpostd is up (systemctl status outpostd; journalctl -u outpostd)"
      exit 0
    fi
    sleep 0.5
  done
  systemctl --no-pager status "$UNIT_NAME" >&2 || true
  die "outpostd did not answer /healthz within 30 s; see: journalctl -u outpostd -n 100"
else
  [ "$HAVE_SYSTEMD" = 1 ] || echo "would then wait for: curl -fsS http://127.0.0.1:$PORT/healthz"
fi
log "done"
