#!/bin/sh
# Run the specs once per build (plain, then ASan + UBSan) and end with one line
# "N passed, N failed" for the whole run. Exit status: 0 only if nothing failed.
# Each pass is bounded (10 minutes): a hang is a failure, never a stuck CI.
set -u
cd "$(dirname "$0")/.."
passes=${NH_SPEC_PASSES:-"plain asan"}
passed=0
failed=0
log=$(mktemp)
counts=$(mktemp)
root=$(pwd)
trap 'rm -f "$log" "$counts"' EXIT
# run_busted PASS DIR LABEL [busted args]: busted with the pass's module
# (DIR) and environment, bounded; its log shown; "passed failed" written to
# $counts and added to the totals by the caller (a subshell cannot add).
run_busted() {
  pass=$1 mdir=$2 label=$3
  shift 3
  if [ "$pass" = asan ]; then
    # lua5.4 itself is not instrumented: the ASan runtime must be loaded first.
    NH_BUILD=$mdir \
    LD_PRELOAD="$(${CC:-cc} -print-file-name=libasan.so)" \
    ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
      timeout -k 10 600 busted --lua=lua5.4 "$@" >"$log" 2>&1
  else
    NH_BUILD=$mdir timeout -k 10 600 busted --lua=lua5.4 "$@" >"$log" 2>&1
  fi
  rc=$?
  cat "$log"
  summary=$(grep -E '^[0-9]+ success(es)? / [0-9]+ failures? / [0-9]+ errors?' "$log" | tail -n 1)
  if [ -z "$summary" ]; then
    echo "!! $label ended without a summary (exit $rc): counted as one failure"
    echo "0 1" >"$counts"
    return
  fi
  s=$(echo "$summary" | sed -E 's/^([0-9]+) success.*/\1/')
  f=$(echo "$summary" | sed -E 's/.* ([0-9]+) failures? .*/\1/')
  e=$(echo "$summary" | sed -E 's/.* ([0-9]+) errors?.*/\1/')
  f=$((f + e))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "!! $label exited with status $rc after its summary: counted as one failure"
    grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error' "$log" | head -5
    f=1
  fi
  echo "$s $f" >"$counts"
}

# Static checks first: luacheck (Debian lua-check) on every Lua file, as
# .luacheckrc says; one check, passed or failed.
echo "== luacheck"
if luacheck --no-color . >"$log" 2>&1; then
  passed=$((passed + 1))
  tail -n 1 "$log"
else
  cat "$log"
  failed=$((failed + 1))
fi
for pass in $passes; do
  dir=build
  [ "$pass" = asan ] && dir=build-asan
  echo "== core C tests: $pass build"
  if timeout 60 "$dir/core_test" >"$log" 2>&1; then :; fi
  cat "$log"
  c=$(grep -E '^core C tests: [0-9]+ passed, [0-9]+ failed$' "$log")
  if [ -n "$c" ]; then
    passed=$((passed + $(echo "$c" | sed -E 's/.*: ([0-9]+) passed.*/\1/')))
    failed=$((failed + $(echo "$c" | sed -E 's/.* ([0-9]+) failed$/\1/')))
  else
    echo "!! $dir/core_test did not finish: counted as one failure"
    failed=$((failed + 1))
  fi
  echo "== specs: $pass build"
  run_busted "$pass" "$dir" "the $pass pass" "$@"
  r=$(cat "$counts")
  passed=$((passed + ${r% *}))
  failed=$((failed + ${r#* }))
  # The examples, each in its own folder as a user runs it there: only the
  # module's location is given (a user's comes from make install).
  for ex in examples/*/; do
    echo "== $ex: $pass build"
    (cd "$ex" && export LUA_PATH="$root/lua/?.lua;;" LUA_CPATH="$root/$dir/?.so;;" &&
      run_busted "$pass" "$root/$dir" "$ex ($pass)")
    r=$(cat "$counts")
    passed=$((passed + ${r% *}))
    failed=$((failed + ${r#* }))
  done
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
