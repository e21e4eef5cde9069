#ifndef C_TEST_RUN_WIDTH_H
#define C_TEST_RUN_WIDTH_H

/// The most test cases Swift Testing runs at once in this process: the value of
/// SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH as the test bundle started (set by
/// width.c when the environment did not), or 0 when it is not a number.
int directsmtp_test_run_width(void);

#endif
