#if OpenSSL
import Sockets
import Testing

@Suite struct TLSLibraryTests {
    @Test func linksTheSystemOpenSSL() {
        #expect(TLSLibrary.version.hasPrefix("OpenSSL "))
    }
}
#endif
