#!/usr/bin/env bash
# retrovue-playout set-up for a Debian 12+ / Ubuntu 22.04+ host.
#
#   ./install.sh            runtime: FFmpeg libraries, pinned Deno, npm modules
#   ./install.sh --test     also what the test suite needs (ffmpeg CLI, libav*-dev headers, gcc,
#                           Python gRPC tools, promtool, lintian, systemd-analyze, debootstrap)
#   ./install.sh --system   also build the .deb and install it with apt (systemd service)
#
# Idempotent: a second run checks and changes nothing. Re-runs itself with sudo when not root.
set -euo pipefail

DENO_VERSION="2.9.6"
DENO_HOME="/usr/local/lib/retrovue-deno/${DENO_VERSION}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

want_test=0
want_system=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    --system) want_system=1 ;;
    -h | --help)
      sed -n '2,10p' "$0"
      exit 0
      ;;
    *)
      echo "install.sh: unknown option '$arg' (try --help)" >&2
      exit 2
      ;;
  esac
done

die() {
  echo "install.sh: $*" >&2
  exit 1
}
say() { echo "install.sh: $*"; }

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    exec sudo -E bash "$0" "$@"
  fi
  die "must run as root (no sudo found). Run it as root: su -c '$0 $*'"
fi

command -v apt-get >/dev/null 2>&1 ||
  die "this host has no apt-get. Supported: Debian 12+ and Ubuntu 22.04+. Install FFmpeg's shared libraries (libavformat, libavcodec, libavutil, libswscale, libswresample, libavfilter) and Deno ${DENO_VERSION} by hand."
[ "$(uname -m)" = "x86_64" ] || [ "$(uname -m)" = "aarch64" ] ||
  die "unsupported CPU architecture $(uname -m): Deno ships for x86_64 and aarch64 only"

export DEBIAN_FRONTEND=noninteractive
apt_updated=0
apt_update_once() {
  if [ "$apt_updated" -eq 0 ]; then
    say "apt-get update"
    apt-get update -qq || die "apt-get update failed: check the host's apt sources and network"
    apt_updated=1
  fi
}
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
# True when apt can install NAME: it has a real Candidate (a virtual or merely referenced name
# answers `apt-cache show` too, so that is not asked).
installable() {
  local c
  c="$(apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: *//p')"
  [ -n "$c" ] && [ "$c" != "(none)" ]
}

# FFmpeg generations the engine has verified layout tables for, newest first:
# avformat avcodec avutil swscale swresample avfilter sonames of one FFmpeg release, never mixed.
ffmpeg_generations=(
  "libavformat63 libavcodec63 libavutil61 libswscale10 libswresample7 libavfilter12"
  "libavformat62 libavcodec62 libavutil60 libswscale9 libswresample6 libavfilter11"
  "libavformat61 libavcodec61 libavutil59 libswscale8 libswresample5 libavfilter10"
  "libavformat60 libavcodec60 libavutil58 libswscale7 libswresample4 libavfilter9"
  "libavformat59 libavcodec59 libavutil57 libswscale6 libswresample4 libavfilter8"
)
# A generation already fully installed wins (no change on a second run); else the newest
# generation whose six libraries all have an apt candidate. Sets ffmpeg_gen (not run in a
# subshell, so apt_update_once's flag holds for the rest of the script).
ffmpeg_gen=""
pick_ffmpeg() {
  local gen p ok test
  for test in installed installable; do
    [ "$test" = installable ] && apt_update_once
    for gen in "${ffmpeg_generations[@]}"; do
      ok=1
      for p in $gen; do "$test" "$p" || ok=0; done
      if [ "$ok" -eq 1 ]; then
        ffmpeg_gen="$gen"
        return 0
      fi
    done
  done
  return 1
}

packages=()
pick_ffmpeg ||
  die "apt offers no complete FFmpeg generation this engine supports (5.1, 6.1, 7.1, 8.1 or 9.0: libavcodec59 to 63 with their matching libraries)"
# shellcheck disable=SC2206
packages+=($ffmpeg_gen)
packages+=(ca-certificates)
# npm fetches Deno; a host with its own Node.js (e.g. from NodeSource) already has it.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
if [ "$want_test" -eq 1 ] || [ "$want_system" -eq 1 ]; then
  packages+=(ffmpeg gcc libc6-dev xz-utils libavformat-dev libavcodec-dev libavutil-dev libswscale-dev
    libswresample-dev libavfilter-dev python3-grpcio python3-grpc-tools prometheus lintian systemd dpkg-dev
    fakeroot iproute2 man-db nginx chromium python3-jsonschema debootstrap curl)
fi

missing=()
for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  apt_update_once
  say "installing ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    die "apt-get install ${missing[*]} failed"
fi

# Deno, from the npm package 'deno' (the binary ships inside it; its postinstall is not needed).
case "$(uname -m)" in
  x86_64) deno_pkg="linux-x64-glibc" ;;
  aarch64) deno_pkg="linux-arm64-glibc" ;;
esac
deno_bin="${DENO_HOME}/node_modules/@deno/${deno_pkg}/deno"
if ! [ -x "$deno_bin" ] || ! "$deno_bin" --version 2>/dev/null | grep -q "^deno ${DENO_VERSION} "; then
  say "installing Deno ${DENO_VERSION} from npm into ${DENO_HOME}"
  mkdir -p "$DENO_HOME"
  (cd "$DENO_HOME" && npm install --silent --no-audit --no-fund --prefix "$DENO_HOME" \
    "deno@${DENO_VERSION}" >/dev/null 2>&1) ||
    die "npm install deno@${DENO_VERSION} failed: is the npm registry reachable?"
  [ -x "$deno_bin" ] || die "the npm package deno@${DENO_VERSION} has no binary at $deno_bin"
fi
if [ "$(readlink -f /usr/local/bin/deno 2>/dev/null)" != "$(readlink -f "$deno_bin")" ]; then
  ln -sf "$deno_bin" /usr/local/bin/deno
fi

# npm modules of the project, into node_modules/ and Deno's cache, as pinned by deno.lock.
# Deno trusts only its built-in (Mozilla) roots by default; adding the system store lets it reach
# the npm registry where the host trusts a local CA (e.g. a TLS-inspecting proxy's, installed in
# /usr/local/share/ca-certificates), as apt's and npm's own downloads already do.
owner="$(stat -c %U "$HERE")"
cache_cmd=(env DENO_TLS_CA_STORE=system,mozilla /usr/local/bin/deno install --frozen --quiet)
if [ "$owner" != "root" ] && [ "$owner" != "UNKNOWN" ]; then
  (cd "$HERE" && su "$owner" -s /bin/bash -c "${cache_cmd[*]}") || die "deno install (npm modules) failed"
else
  (cd "$HERE" && "${cache_cmd[@]}") || die "deno install (npm modules) failed"
fi

if [ "$want_system" -eq 1 ]; then
  say "building the .deb"
  (cd "$HERE" && /usr/local/bin/deno task package) || die "deno task package failed"
  deb="$(ls -t "$HERE"/build/retrovue-playout_*.deb | head -n 1)"
  say "installing $deb"
  apt-get install -y -qq --reinstall "$deb" >/dev/null || die "apt-get install $deb failed"
fi

say "ready: deno ${DENO_VERSION} at /usr/local/bin/deno"
