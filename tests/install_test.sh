#!/usr/bin/env bash
# `make install DESTDIR=...`, checked the way a packager and an operator use
# it. tests/run.sh runs each step as a check, in this order, on one folder:
#
#   tests/install_test.sh STEP ROOT
#
#   install   make install DESTDIR=ROOT (and PREFIX=/usr into ROOT/prefix-usr)
#   layout    tallyd, tally, the headers, the client library, the config and
#             the unit where they belong; ExecStart follows PREFIX
#   example   the example client builds from the installed header and library alone
#   start     the installed tallyd runs with the installed config (data_dir
#             and listen moved to a scratch folder and a free port), and the
#             installed tally writes and reads through it
#   unit      systemd-analyze verify (skipped, saying so, without it)
#   keep      a second make install keeps an edited /etc/tally/tally.toml
set -u
step="$1"
root="$2"
BUILD="${BUILD:-build}"
bin="$root/usr/local/bin"
unit="$root/usr/local/lib/systemd/system/tallyd.service"

fail() { echo "install_test $step: $*" >&2; exit 1; }

install_into() {  # DESTDIR, then more make variables
  local dest="$1"; shift
  make --no-print-directory -s install BUILD="$BUILD" DESTDIR="$dest" "$@" >"$root/make-install.log" 2>&1 ||
    fail "make install DESTDIR=$dest $*: $(cat "$root/make-install.log")"
}

# A loopback port nothing listens on now (a connection to it is refused),
# below the kernel's ephemeral range (32768 and up), where an outgoing
# connection may hold a port that refuses connections yet cannot be bound.
free_port() {
  local p
  for _ in $(seq 50); do
    p=$((10000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

case "$step" in
install)
  install_into "$root"
  install_into "$root/prefix-usr" PREFIX=/usr
  ;;
layout)
  for f in bin/tallyd bin/tally; do
    [ -x "$root/usr/local/$f" ] || fail "no executable $root/usr/local/$f"
  done
  for f in include/tally/client.hpp include/tally/status.hpp include/tally/version.hpp lib/libtallyclient.a; do
    [ -f "$root/usr/local/$f" ] || fail "no $root/usr/local/$f"
  done
  [ -f "$root/etc/tally/tally.toml" ] || fail "no $root/etc/tally/tally.toml"
  [ -f "$unit" ] || fail "no unit at $unit"
  grep -q '^ExecStart=/usr/local/bin/tallyd --config /etc/tally/tally.toml ' "$unit" ||
    fail "$unit does not start /usr/local/bin/tallyd with /etc/tally/tally.toml: $(grep ExecStart "$unit")"
  # PREFIX=/usr: binaries in /usr/bin, and the unit says so.
  usr="$root/prefix-usr"
  [ -x "$usr/usr/bin/tallyd" ] || fail "PREFIX=/usr: no $usr/usr/bin/tallyd"
  grep -q '^ExecStart=/usr/bin/tallyd ' "$usr/usr/lib/systemd/system/tallyd.service" ||
    fail "PREFIX=/usr: the unit starts $(grep ExecStart "$usr/usr/lib/systemd/system/tallyd.service")"
  # Nothing outside PREFIX but /etc/tally.
  stray=$(cd "$root" && find . -path ./prefix-usr -prune -o -path ./make-install.log -prune -o -type f -print |
    grep -v -e '^\./usr/local/' -e '^\./etc/tally/')
  [ -z "$stray" ] || fail "files installed outside PREFIX and /etc/tally: $stray"
  ;;
example)
  lib="$root/usr/local/lib/libtallyclient.a"
  san=""
  # A sanitizer build's library (make asan) links only with the sanitizers.
  if nm "$lib" 2>/dev/null | grep -q __asan_; then san="-fsanitize=address,undefined"; fi
  # shellcheck disable=SC2086
  g++ -std=c++20 $san -I"$root/usr/local/include" cli/examples/example_client.cpp "$lib" -lxxhash -lcrypto -pthread \
    -o "$root/example_client" 2>&1 || fail "cli/examples/example_client.cpp does not build from the installed files"
  out=$("$root/example_client" 2>&1)
  [ $? -eq 2 ] && [[ "$out" == *usage:* ]] || fail "the example client built from them does not run: $out"
  ;;
start)
  # The installed config, as an operator edits it for this machine: its own
  # data folder and a port no other node here has.
  port=$(free_port) || fail "no free port found"
  cfg="$root/start/tally.toml"
  mkdir -p "$root/start"
  sed -e "s|^data_dir = .*|data_dir = \"$root/start/data\"|" -e "s|^listen = .*|listen = \"127.0.0.1:$port\"|" \
    "$root/etc/tally/tally.toml" >"$cfg"
  grep -q "^listen = \"127.0.0.1:$port\"" "$cfg" && grep -q "^data_dir = \"$root/start/data\"" "$cfg" ||
    fail "the installed config has no listen or data_dir line to point elsewhere"
  "$bin/tallyd" --config "$cfg" >"$root/start/tallyd.log" 2>&1 &
  pid=$!
  trap 'kill -9 $pid 2>/dev/null' EXIT
  tally=("$bin/tally" -e "127.0.0.1:$port")
  deadline=$((SECONDS + 15))
  until "${tally[@]}" put installed yes >/dev/null 2>&1; do
    kill -0 $pid 2>/dev/null || fail "tallyd exited: $(cat "$root/start/tallyd.log")"
    [ $SECONDS -lt $deadline ] || fail "the installed tallyd took no put within 15 s: $(cat "$root/start/tallyd.log")"
    sleep 0.1
  done
  got=$("${tally[@]}" get installed 2>&1) || fail "tally get: $got"
  [[ "$got" == *yes* ]] || fail "tally get installed printed: $got"
  [ -f "$root/start/data/CURRENT" ] || fail "no database in the data_dir given ($root/start/data)"
  kill -TERM $pid
  wait $pid
  rc=$?
  trap - EXIT
  [ $rc -eq 0 ] || fail "tallyd exited $rc on SIGTERM: $(cat "$root/start/tallyd.log")"
  ;;
unit)
  if ! command -v systemd-analyze >/dev/null; then
    echo "SKIPPED: systemd-analyze is not installed (Debian's systemd package)"
    exit 0
  fi
  # verify checks that ExecStart's program exists: the copy names it under ROOT.
  mkdir -p "$root/verify"
  sed "s|^ExecStart=/usr/local/bin/|ExecStart=$bin/|" "$unit" >"$root/verify/tallyd.service"
  out=$(systemd-analyze verify "$root/verify/tallyd.service" 2>&1)
  rc=$?
  # It exits 0 on unknown keys and bad values too, only warning: any line
  # about this unit is a failure.
  ours=$(grep tallyd <<<"$out")
  [ $rc -eq 0 ] && [ -z "$ours" ] || fail "systemd-analyze verify (exit $rc): $out"
  ;;
keep)
  echo "# edited on this host" >>"$root/etc/tally/tally.toml"
  install_into "$root"
  grep -q '^# edited on this host' "$root/etc/tally/tally.toml" || fail "make install replaced an edited tally.toml"
  ;;
*)
  fail "unknown step (install, layout, example, start, unit, keep)"
  ;;
esac
