// directsmtp: the command-line face of DirectSMTP. The commands live in the
// DirectSMTPCommandLine library (which other programs reuse with a queue store of their
// own); this file only runs them. Exit codes follow sysexits(3), as sendmail and Postfix do.

import DirectSMTPCommandLine

#if canImport(Glibc)
import Glibc
#endif

exit(await CommandLineTool.run(Array(CommandLine.arguments.dropFirst())))
