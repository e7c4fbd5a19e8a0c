#!/usr/bin/env bash
# The protocol cores do no I/O (docs/architecture.md, Principles): ring/, quorum/ and src/raft/
# may include only standard headers, their own headers, tally/status.hpp, and
# (ring/ and quorum/) xxhash.h. Anything else, libuv, LevelDB, msgpack or node
# code, fails this check.
#
#   tests/check_includes.sh [ROOT]     exit 0 when clean, 1 listing each offence
set -u
root="${1:-.}"
bad=0

check_dir() {  # dir, allowed quoted-include prefixes (regex), allowed <...> non-std headers (regex)
  local dir="$1" quoted="$2" angled="$3"
  [ -d "$root/$dir" ] || return 0
  while IFS= read -r -d '' f; do
    local n=0
    while IFS= read -r line; do
      n=$((n + 1))
      [[ "$line" =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*([\"\<])([^\"\>]+)[\"\>] ]] || continue
      local kind="${BASH_REMATCH[1]}" path="${BASH_REMATCH[2]}"
      if [ "$kind" = '"' ]; then
        [[ "$path" =~ ^($quoted) ]] && continue
      else
        # Standard C++ headers have no extension and no folder.
        [[ "$path" =~ ^[a-z_0-9]+$ ]] && continue
        [[ -n "$angled" && "$path" =~ ^($angled)$ ]] && continue
      fi
      local shown="\"$path\""
      [ "$kind" = '<' ] && shown="<$path>"
      echo "check_includes: ${f#$root/}:$n: $dir may not include $shown"
      bad=1
    done < "$f"
  done < <(find "$root/$dir" -type f \( -name '*.hpp' -o -name '*.cpp' -o -name '*.h' \) -print0)
}

check_dir ring       'ring/|tally/status\.hpp'                  'xxhash\.h'
check_dir quorum     'quorum/|ring/|tally/status\.hpp'          'xxhash\.h'
check_dir src/raft   'raft/|tally/status\.hpp'                  ''

if [ "$bad" -ne 0 ]; then
  echo "check_includes: the protocol cores must stay pure (see docs/architecture.md, Layering)"
  exit 1
fi
exit 0
