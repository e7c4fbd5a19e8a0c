#!/usr/bin/env bash
# The layering rules that includes can show, checked in `make test`
# (docs/architecture.md, "Layering"):
#
# - The protocol cores do no I/O: ring/, quorum/, src/raft/ and src/meta/ may
#   include only standard headers, the cores' own headers (as each row below
#   allows), tally/status.hpp, and (ring/ and quorum/) xxhash.h. Anything else,
#   libuv, LevelDB, msgpack, node or network code, fails this check.
# - src/store keeps bytes on disk and nothing more: it may not include the
#   network (net/), the node (node/), libuv or msgpack (records and Raft state
#   are encoded by src/codec).
#
#   tests/check_includes.sh [ROOT]     exit 0 when clean, 1 listing each offence
set -u
root="${1:-.}"
bad=0

# Calls `$verdict KIND PATH` for every #include in dir's sources (KIND is " or
# <) and reports each one it refuses (non-zero).
scan_dir() {  # dir, verdict function, its arguments...
  local dir="$1" verdict="$2"; shift 2
  [ -d "$root/$dir" ] || return 0
  while IFS= read -r -d '' f; do
    local n=0
    while IFS= read -r line; do
      n=$((n + 1))
      [[ "$line" =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*([\"\<])([^\"\>]+)[\"\>] ]] || continue
      local kind="${BASH_REMATCH[1]}" path="${BASH_REMATCH[2]}"
      "$verdict" "$kind" "$path" "$@" && continue
      local shown="\"$path\""
      [ "$kind" = '<' ] && shown="<$path>"
      echo "check_includes: ${f#$root/}:$n: $dir may not include $shown"
      bad=1
    done < "$f"
  done < <(find "$root/$dir" -type f \( -name '*.hpp' -o -name '*.cpp' -o -name '*.h' \) -print0)
}

# Standard C++ headers have no extension and no folder.
is_std() { [[ "$1" =~ ^[a-z_0-9]+$ ]]; }

# Allowed: standard headers, quoted ones under `quoted`, angled ones matching `angled`.
only() {  # kind, path, allowed quoted-include prefixes (regex), allowed <...> non-std headers (regex)
  local kind="$1" path="$2" quoted="$3" angled="$4"
  if [ "$kind" = '"' ]; then
    [[ "$path" =~ ^($quoted) ]]
  else
    is_std "$path" || [[ -n "$angled" && "$path" =~ ^($angled)$ ]]
  fi
}

# Refused: quoted ones under `quoted`, angled ones matching `angled`; the rest allowed.
never() {  # kind, path, refused quoted-include prefixes (regex), refused <...> headers (regex)
  local kind="$1" path="$2" quoted="$3" angled="$4"
  if [ "$kind" = '"' ]; then
    ! [[ "$path" =~ ^($quoted) ]]
  else
    ! [[ "$path" =~ ^($angled)$ ]]
  fi
}

scan_dir ring       only  'ring/|tally/status\.hpp'                          'xxhash\.h'
scan_dir quorum     only  'quorum/|ring/|tally/status\.hpp'                  'xxhash\.h'
scan_dir src/raft   only  'raft/|tally/status\.hpp'                          ''
scan_dir src/meta   only  'meta/|ring/|quorum/|raft/|tally/status\.hpp'      ''
scan_dir src/store  never 'net/|node/'                                       'uv\.h|msgpack\.hpp'

if [ "$bad" -ne 0 ]; then
  echo "check_includes: the cores must stay pure and src/store below the network (docs/architecture.md, \"Layering\")"
  exit 1
fi
exit 0
