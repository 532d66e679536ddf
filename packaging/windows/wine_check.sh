#!/usr/bin/env bash
# Runs the Windows zip under Wine, by hand (not part of `deno task test`): --help,
# --check-config on the example and on a config with Unix paths, --version (no FFmpeg DLLs
# here: shows the search), and the parent watch of a Core-spawned engine (its cmd.exe parent
# killed; the watch must notice).
#
# Debian 12's wine64 (8.0) cannot run deno.exe (no bcryptprimitives.dll ProcessPrng; with a
# stub for it V8 still fails: "Fatal process out of memory: SegmentedTable::InitializeTable"),
# so this uses Wine 10 from a Debian 13 (trixie) root made with debootstrap.
#
#   packaging/windows/wine_check.sh build/retrovue-playout_<version>_windows-x64.zip [ROOT]
#
# Needs root (debootstrap, chroot). ROOT defaults to /var/tmp/retrovue-wine-trixie and is kept
# for the next run.
set -euo pipefail
zip="$(readlink -f "$1")"
root="${2:-/var/tmp/retrovue-wine-trixie}"
mirror="$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 | awk '{print $2}')"
[ -n "$mirror" ] || mirror="http://deb.debian.org/debian"

if [ ! -x "$root/usr/lib/wine/wine64" ]; then
  [ -d "$root/usr" ] || debootstrap --variant=minbase trixie "$root" "$mirror"
fi
mounted=()
bind() { mountpoint -q "$root/$1" || { mount "${@:2}" "$root/$1"; mounted+=("$root/$1"); }; }
cleanup() { for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}"; done; }
trap cleanup EXIT
bind proc -t proc proc
bind dev --bind /dev
bind dev/pts --bind /dev/pts
bind sys -t sysfs sysfs
cp /etc/resolv.conf "$root/etc/resolv.conf"
if [ ! -x "$root/usr/lib/wine/wine64" ]; then
  chroot "$root" /bin/bash -c "apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wine64 wine"
fi

# Never remove through a source tree left bound there by an interrupted run.
if mountpoint -q "$root/box/src"; then umount -l "$root/box/src"; fi
rm -rf --one-file-system "$root/box" && mkdir -p "$root/box" && (cd "$root/box" && unzip -q "$zip")
dir="$(basename "$zip" .zip)"
printf '[grpc]\nunix_socket = "/run/core.sock"\n[[channels]]\nid = 1\nframe_sink = { unix = "/tmp/s" }\n' \
  > "$root/box/unix.toml"
in_wine() {
  chroot "$root" /bin/bash -c "export WINEDEBUG=-all WINEPREFIX=/box/prefix XDG_RUNTIME_DIR=/tmp
    cd /box/$dir && $1"
}
in_wine "cp config.example.toml config.toml"
echo "== --help";                      in_wine "wine cmd /c retrovue-playout.cmd --help"
echo "== --check-config config.toml";  in_wine "wine cmd /c retrovue-playout.cmd --check-config config.toml"
echo "== --check-config (Unix paths; must fail)"
if in_wine 'wine cmd /c retrovue-playout.cmd --check-config Z:\\box\\unix.toml'; then exit 1; fi
echo "== --version (no FFmpeg DLLs: must fail and list the paths tried)"
if in_wine "wine cmd /c retrovue-playout.cmd --version"; then exit 1; fi

# The engine refuses to start without FFmpeg DLLs (ffmpeg_refused), so the parent watch runs on
# its own here: packaging/windows/parent_watch_check.ts from the source tree, by the zip's deno.exe.
echo "== parent watch: deno.exe under cmd.exe, then cmd.exe is killed"
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
mkdir -p "$root/box/src"
bind box/src --bind -o ro "$src"
log="$root/box/watch.log"
in_wine 'exec timeout 120 wine cmd /c lib\\deno.exe run --allow-ffi --allow-env --no-config Z:\\box\\src\\packaging\\windows\\parent_watch_check.ts' \
  >"$log" 2>&1 &
watch_job=$!
for _ in $(seq 60); do grep -q '"event":"parent_watch_started"' "$log" && break; sleep 1; done
grep -q '"event":"parent_watch_started"' "$log" || { cat "$log"; exit 1; }
parent="$(pgrep -f 'cmd.exe /c lib.deno.exe run --allow-ffi --allow-env --no-config' | head -n1)"
kill -9 "$parent"
for _ in $(seq 30); do grep -q '"event":"parent_exited"' "$log" && break; sleep 1; done
wait "$watch_job" || true
sleep 2 # deno.exe exits right after its line; let wine wind down before the mounts go
grep -E '"event":"(parent_watch_started|parent_exited)"' "$log"
grep -q '"event":"parent_exited"' "$log"
echo "wine check: ok"
