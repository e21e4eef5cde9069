import CTestRunWidth
import Testing

/// A parallel `swift test` runs a bounded number of test cases at once
/// (Tests/CTestRunWidth/width.c says why): the bound is in place before the run starts.
@Test("The parallel test run is bounded: SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH is set")
func testRunWidthIsBounded() {
    #expect(directsmtp_test_run_width() > 0)
}
