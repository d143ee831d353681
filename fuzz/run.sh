#!/usr/bin/env bash
# Run every fuzz target of mxsend-core for SECONDS each (default 60) on the stable toolchain.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# For each target: copies the committed seeds (fuzz/seeds/TARGET/) into the working corpus
# (fuzz/corpus/TARGET/, git-ignored, kept between runs so coverage accumulates), runs
# `cargo fuzz run -s none` with the SMTP dictionary and debug assertions (overflow checks
# on), and prints the executions libFuzzer ran and whether it found anything. Exits 1 if
# any target found a crash, timeout or out-of-memory input (left in fuzz/artifacts/TARGET/),
# 2 on a setup error. Installs cargo-fuzz when it is missing. CI runs `fuzz/run.sh 20`.
#
# Without a sanitizer (`-s none`), no nightly is needed and runs are about 10x faster than
# with AddressSanitizer; the core forbids `unsafe`, so ASan would find nothing more.
# To reproduce a finding: `cargo fuzz run -s none -a TARGET fuzz/artifacts/TARGET/crash-...`
# from the repository root.
set -euo pipefail

seconds="${1:-60}"
shift || true
case "$seconds" in
    '' | *[!0-9]*) echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac

fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$fuzz_dir")"
cd "$root"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz not found; installing it (about a minute)" >&2
    cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list --fuzz-dir "$fuzz_dir")
fi
if [ "${#targets[@]}" -eq 0 ]; then
    echo "no fuzz targets found" >&2
    exit 2
fi

# Build once up front so compile time never counts against a target's fuzzing time.
cargo fuzz build -s none -a --fuzz-dir "$fuzz_dir" || { echo "build failed" >&2; exit 2; }

logs="$fuzz_dir/target/run-logs"
mkdir -p "$logs"
found=0
summary=()
for target in "${targets[@]}"; do
    corpus="$fuzz_dir/corpus/$target"
    artifacts="$fuzz_dir/artifacts/$target"
    mkdir -p "$corpus" "$artifacts"
    if [ -d "$fuzz_dir/seeds/$target" ]; then
        cp -n "$fuzz_dir/seeds/$target"/* "$corpus"/ 2>/dev/null || true
    fi
    before="$(ls -A "$artifacts" | wc -l)"
    log="$logs/$target.log"
    echo "== $target: fuzzing for ${seconds}s" >&2
    status=0
    cargo fuzz run -s none -a --fuzz-dir "$fuzz_dir" "$target" "$corpus" -- \
        -max_total_time="$seconds" -dict="$fuzz_dir/smtp.dict" -print_final_stats=1 \
        -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$artifacts/" >"$log" 2>&1 || status=$?
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    after="$(ls -A "$artifacts" | wc -l)"
    if [ "$after" -gt "$before" ]; then
        found=1
        newest="$(ls -t "$artifacts" | head -n 1)"
        result="FOUND ${newest:+$artifacts/$newest} (exit $status; log $log)"
        grep -m 5 -E "panicked|ERROR|SUMMARY" "$log" >&2 || tail -n 20 "$log" >&2
    elif [ "$status" -ne 0 ]; then
        # libFuzzer failed without leaving an input behind: a setup problem, not a finding.
        tail -n 20 "$log" >&2
        echo "$target: fuzzer failed (exit $status) without a finding; log $log" >&2
        exit 2
    else
        result="nothing found"
    fi
    summary+=("$(printf '%-14s %12s execs  %s' "$target" "${execs:-?}" "$result")")
done

echo
printf '%s\n' "${summary[@]}"
exit "$found"
