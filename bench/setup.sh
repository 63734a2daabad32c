#!/bin/sh
# Installs the bench's system tools (wrk, redis-server + redis-benchmark, and for bench/ssh.ts
# the OpenSSH server and client) on Debian/Ubuntu if they are missing. Run as root or with sudo.
# autocannon comes from `npm install` (devDependency).
set -eu
missing=""
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
{ command -v redis-server >/dev/null 2>&1 && command -v redis-benchmark >/dev/null 2>&1; } || missing="$missing redis-server"
command -v taskset >/dev/null 2>&1 || missing="$missing util-linux"
# bench/ssh.ts starts its own sshd (own config, port and host key in a temp dir); the package's
# system service is not used by the bench.
[ -x /usr/sbin/sshd ] || missing="$missing openssh-server"
{ command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1; } || missing="$missing openssh-client"
if [ -z "$missing" ]; then
  echo "bench/setup.sh: wrk, redis-server, redis-benchmark, taskset, sshd and ssh are already installed"
else
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "bench/setup.sh: installing$missing"
  $SUDO apt-get update
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y $missing
fi
# redis-server is enabled as a system service by the Debian package; the bench never uses it
# (it starts its own instances on random loopback ports).
wrk -v 2>&1 | head -1 || true
redis-server --version
/usr/sbin/sshd -V 2>&1 | head -1 || ssh -V 2>&1 || true
