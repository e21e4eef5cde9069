// How many test cases a parallel `swift test` runs at once.
//
// Swift Testing in the Swift 6.3 toolchain starts every test case at once: about 240 of
// ours, on a cooperative pool of one thread per core. On two cores their start-up work
// queued each job behind up to 2 s of others', and tests that time a budget, a time-out or
// a DNS answer failed for a wait they never measured. Swift Testing reads the bound from
// SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH when it starts; newer releases default
// it to twice the core count (swiftlang/swift-testing#1390), which is what we set here,
// before main, unless the environment already says otherwise. `swift test --no-parallel`
// still runs one at a time.
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "CTestRunWidth.h"

static const char *const widthVariable = "SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH";

__attribute__((constructor)) static void directsmtp_bound_test_run_width(void) {
    if (getenv(widthVariable) != NULL) return;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    char width[24];
    snprintf(width, sizeof width, "%ld", 2 * (cores > 0 ? cores : 1));
    setenv(widthVariable, width, 0);
}

int directsmtp_test_run_width(void) {
    const char *width = getenv(widthVariable);
    return width == NULL ? 0 : atoi(width);
}
