#!/usr/bin/env bash
# Runs the whole test suite under ThreadSanitizer and under AddressSanitizer (with
# LeakSanitizer), each in its own build folder (.build-tsan, .build-asan), and exits
# non-zero on any failed test or any sanitizer report. Every suppression is explained
# where it is listed: .ci/tsan.supp, .ci/lsan.supp.
#
#   .ci/sanitizers.sh              both
#   .ci/sanitizers.sh thread       ThreadSanitizer only
#   .ci/sanitizers.sh address      AddressSanitizer only
#   DIRECTSMTP_DETECT_LEAKS=0 .ci/sanitizers.sh address
#                                  AddressSanitizer without LeakSanitizer (memory errors only)
#
# The TSan build backs Sockets.Lock by pthread_mutex (-DDIRECTSMTP_PTHREAD_LOCK), which TSan
# sees; the ASan build keeps the production Synchronization.Mutex. Tests read
# DIRECTSMTP_SANITIZER to widen time bounds that only guard against hangs (TimingScale).
# The sanitizer flag goes to the Swift compiler and linker only: the C shims are thin
# system-call wrappers whose libc calls both runtimes intercept anyway.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# Mutex is invisible to TSan: the package's one lock type is Sockets.Lock.
if grep -rnw --include='*.swift' 'Mutex' Sources Tests Benchmarks | grep -v '^Sources/Sockets/Lock.swift:'; then
    echo "sanitizers: use Sockets.Lock, not Synchronization.Mutex (TSan cannot see Mutex)" >&2
    exit 1
fi

sanitizers=("$@")
[ ${#sanitizers[@]} -eq 0 ] && sanitizers=(thread address)
failed=()

run_suite() {
    local sanitizer=$1 scratch log status reports
    case $sanitizer in
        thread) scratch=.build-tsan ;;
        address) scratch=.build-asan ;;
        *) echo "sanitizers: unknown sanitizer $sanitizer" >&2; return 2 ;;
    esac
    log="$scratch/sanitizer-test.log"
    local flags=(-Xswiftc "-sanitize=$sanitizer")
    [ "$sanitizer" = thread ] && flags+=(-Xswiftc -DDIRECTSMTP_PTHREAD_LOCK)
    echo "== $sanitizer: build ($scratch)"
    if ! swift build --build-tests --scratch-path "$scratch" "${flags[@]}"; then
        echo "== $sanitizer: build failed"
        return 1
    fi
    echo "== $sanitizer: test"
    mkdir -p "$scratch"
    # Serial: under a sanitizer every test runs several times slower, and the suite's
    # tests run side by side would share 2 cores; time bounds hold one test at a time.
    DIRECTSMTP_SANITIZER=$sanitizer \
    TSAN_OPTIONS="suppressions=$root/.ci/tsan.supp halt_on_error=0 second_deadlock_stack=1" \
    ASAN_OPTIONS="detect_leaks=${DIRECTSMTP_DETECT_LEAKS:-1} abort_on_error=0 detect_stack_use_after_return=0" \
    LSAN_OPTIONS="suppressions=$root/.ci/lsan.supp print_suppressions=0" \
        swift test --skip-build --scratch-path "$scratch" --no-parallel 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    # A report in a child process (the CLI tests run our executables) may not fail the
    # test that spawned it, so the log is searched too.
    reports=$(grep -cE 'WARNING: ThreadSanitizer|ERROR: AddressSanitizer|ERROR: LeakSanitizer' "$log")
    echo "== $sanitizer: swift test exit $status, sanitizer reports $reports"
    [ "$status" -eq 0 ] && [ "$reports" -eq 0 ]
}

for sanitizer in "${sanitizers[@]}"; do
    start=$SECONDS
    if ! run_suite "$sanitizer"; then failed+=("$sanitizer"); fi
    echo "== $sanitizer: $((SECONDS - start)) s"
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "sanitizers: FAILED under ${failed[*]}" >&2
    exit 1
fi
echo "sanitizers: clean under ${sanitizers[*]}"
