/// Keys for the DKIM tests and the CLI's DKIM and doctor tests. `rfc8463RSA` and
/// `rfc8463Ed25519` are RFC 8463 appendix A's (the Ed25519 one is its seed in PKCS#8),
/// with the key records it publishes; the others were made with `openssl genpkey` for
/// these tests only and sign nothing else. Plain text, so the build without the `OpenSSL`
/// trait has them too; a test-support target in no product, so never the library's API.
public enum TestKeys {
    /// RFC 8463 appendix A.2's key record for ``rfc8463Ed25519`` (selector `brisbane`).
    public static let rfc8463Ed25519Record = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
    /// RFC 8463 appendix A.2's key record for ``rfc8463RSA`` (selector `test`).
    public static let rfc8463RSARecord =
        "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"
    /// RFC 8463 appendix A.1's RSA key (1024 bits, which the library reports as weak).
    public static let rfc8463RSA = """
    -----BEGIN RSA PRIVATE KEY-----
    MIICXQIBAAKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQi
    Y/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqM
    KrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB
    AoGAH0cxOhFZDgzXWhDhnAJDw5s4roOXN4OhjiXa8W7Y3rhX3FJqmJSPuC8N9vQm
    6SVbaLAE4SG5mLMueHlh4KXffEpuLEiNp9Ss3O4YfLiQpbRqE7Tm5SxKjvvQoZZe
    zHorimOaChRL2it47iuWxzxSiRMv4c+j70GiWdxXnxe4UoECQQDzJB/0U58W7RZy
    6enGVj2kWF732CoWFZWzi1FicudrBFoy63QwcowpoCazKtvZGMNlPWnC7x/6o8Gc
    uSe0ga2xAkEA8C7PipPm1/1fTRQvj1o/dDmZp243044ZNyxjg+/OPN0oWCbXIGxy
    WvmZbXriOWoSALJTjExEgraHEgnXssuk7QJBALl5ICsYMu6hMxO73gnfNayNgPxd
    WFV6Z7ULnKyV7HSVYF0hgYOHjeYe9gaMtiJYoo0zGN+L3AAtNP9huqkWlzECQE1a
    licIeVlo1e+qJ6Mgqr0Q7Aa7falZ448ccbSFYEPD6oFxiOl9Y9se9iYHZKKfIcst
    o7DUw1/hz2Ck4N5JrgUCQQCyKveNvjzkkd8HjYs0SwM0fPjK16//5qDZ2UiDGnOe
    uEzxBDAr518Z8VFbR41in3W4Y3yCDgQlLlcETrS+zYcL
    -----END RSA PRIVATE KEY-----
    """
    /// RFC 8463 appendix A.1's Ed25519 key (its seed, in PKCS#8).
    public static let rfc8463Ed25519 = """
    -----BEGIN PRIVATE KEY-----
    MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g
    -----END PRIVATE KEY-----
    """
    /// An RSA 2048 key made for these tests.
    public static let rsa2048 = """
    -----BEGIN PRIVATE KEY-----
    MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC0qbgMmRDfvgFR
    xd/XogQ6cNxuJ/fTxYQXKuWvnTpxvfRAt2UIubp6QIvQIFrDSGpZxDFbDIcqFf2D
    ocJ+rFLjaTdkr1Anuqijk4Nd9tEZO0X8esgeIWkFffsRxnTGKTfFRQaF1LtDeZxf
    5vZhsjIEK1Rr3GMSmjD+6PRw1lXsx8gL8f0fh2/BQV9CSOHPwhI0j9onipFwo3sp
    0soJBwRkeJ5OihuQRyVH9gUjkasRmWJg1haOsmdYMxWtLJkl/c/UTDZd6atmERxE
    oMIe1hPb+ihQ3FhT5rJB+RYlEJLFAAWLpLQ89E2Qgur/6Y9pivqUCtRjr4HIw8CU
    I6wRHlNbAgMBAAECggEAUyoHe+EgR+bG47Yzbyd5S8+1YQ4MAtPbFPEdz2QQydg3
    7myd2VDp+ynoUnP6ZAfbURxD3hZbyC9cRrJ5fmdkNqQyKCqdutQtmjMnF2OtaLCE
    7I82vMwDdNBD+bBCBBBoSGqYcJX3aD28ktcWlu15Ibsyfv5yKteI82cYUzMPVdHx
    IqRhKMaAqNHqHS0D9cV3/1xDCxyViy5kxvBe02tkm5lRVaJ0LHZ5/DqkIl3Elaw8
    FkS9p9mjbbZ10ops7AgZ2eMEHgeiwh+EK58ecUKODEv/IqvVkzhoFDOfI1kF5vs4
    qJqP8FDcBTiZBUOS2X1lOzjcHwmL72jkiuiQfF98oQKBgQDluX7+zNxtPjulIppV
    ffQINet1BNKQE99+H2rIr8bWWBIasUBi1TBMH7LCwcOAMmK5pEy3qmqqqG4KjbtZ
    NIm/RBEzNaJi52nNIS6mdvPv4VEOjFsRbFhIIbmU+gr44AUhXQ1ddqlbSChDEeGv
    /ZU5FZKO73wHJa1bL/lxi/6q+wKBgQDJU6mazCKBbvqEndiACLsn+MbAB+2tBneB
    5vkcvOiojmBJRG+xP0YGWaghMLZaVBwDDKjncUANCNG82u95drMPIAv8FYo5ZYMt
    zA23vgXCwpL5jw3StJvF0A+d9c+kk+/D814nViKV8NyRzw++A1nMzwTvdOzZSnXY
    +NiDMRyLIQKBgAoGalBcSFJMIPY36FxKvteM4tWcfEPlWh9654ISia7Y8RFRIuot
    O4pW58owAoQZrs1DKkXpnfYMm6DCRqbB8DD0m3uMn6WJS8iz5gFFt6eEQbFM1ryP
    6dpb/mlN8CSkQhUOpoKppwJgx8EFir/PZS+0jUzHjrYRItuT4GLgJSD5AoGBALcG
    9B3ij0wUVHPT/EsJpPwF0sopaw3t3x+dl8Nkii8SoL57FP+Sglqrj4n8+wrLhFvR
    WoxuDMjMx8BlWWiXXNnXTI30FyFvA/7Sj3YHrr0Mnwl54Bs6TpNbP5dfLVJ1m3gM
    +//O8spVmnCESc94xF7Jpbb8GYbBhrmmIU/DiiuBAoGAEPIoUrGCDwYYYK9F9rRe
    vXpgtHX04O2qQTRl4wjWvAiVeTio0WtqtjUNMkjMT1OW8j4/2m42iEmeAxNSF1xV
    T1YoiytzAa7RYy9dRqbvePRfizGuVy8E6ZJnWBzRxM75g4Xqqu2rbzTnWVzsocTB
    QMxO09xJG3APe78ue49z5Hw=
    -----END PRIVATE KEY-----
    """
    /// An Ed25519 key made for these tests.
    public static let ed25519 = """
    -----BEGIN PRIVATE KEY-----
    MC4CAQAwBQYDK2VwBCIEIAvdCwDF4hDQr4OkL5Jt59RAWOUEW9boCTa95eNfXTNm
    -----END PRIVATE KEY-----
    """
    /// An RSA 512 key: too weak for a signer.
    public static let rsa512 = """
    -----BEGIN RSA PRIVATE KEY-----
    MIIBPAIBAAJBAL35bjJpoX79s3RN2wcTnF4bp7F5SpWIz5gyjYX0pLASHQeI/jaw
    /eLXoyZAc6VRkYtxrOyFScdNvQubFAFEgGkCAwEAAQJBAKJ8Uwp/Wof5iqHxbWMS
    HO5JDRc4vNhFWfm9U1q9spZ8jSTfLYjKh5Aj/DU/2ti3G3AEaevqrk1vbp6ZE9ud
    LOECIQDvOpWDvc+2CxGvvRBK3lMELuj8r3a3vJioOsBseTeOFQIhAMtK4Xks4BLF
    XsVg95nO/vi+zs+RGLenwmhbEBPP/FIFAiBbM9F2dTGv7E5k2kZQ1Kt/h8bJNrei
    2qK0WBmuARR99QIhAJYB2CSZJ3LSbt8IcUvugRg9e8+QCoQiZwKoB1IHS/GdAiEA
    mIaYnPMtgf5L7t6oqdNv+uznD6vG613GRgSAaD0sHAQ=
    -----END RSA PRIVATE KEY-----
    """
    /// A P-256 key: a type DKIM does not sign with.
    public static let ecP256 = """
    -----BEGIN PRIVATE KEY-----
    MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg11DGPX7gNwnoosB3
    Ll4+BZEqql2MZkUPiPXyU+Hoq/ShRANCAATVI2gUcHMbWEugztAEM3JQlFUjMMMO
    XzB+3ddIi5PWolq8lhDJ0FE3DyFTfCNeC60K4GbMkfnBBybv8runTucA
    -----END PRIVATE KEY-----
    """
    /// An RSA key under a passphrase: unusable without it.
    public static let encryptedRSA = """
    -----BEGIN ENCRYPTED PRIVATE KEY-----
    MIIFLTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQIcDoOMACGNFYCAggA
    MAwGCCqGSIb3DQIJBQAwHQYJYIZIAWUDBAECBBAuyLXkZ73RMwzklZvs4T82BIIE
    0LJoizzs7D/3cwO0VN+qqgM08LpTa10TOuFq/PXqVh1JHy0+S29S6AtWdvJi54tm
    Tn2LEYKbGCmLGhqZk1iTpsie0k2Gyy+50lH+m5dtXlaJY0oPWFpK2Xg8NJ0IFn3X
    oR2WBJBHoE3ijXNNlcChcbqNCKhJd5wAV6wuWodKccppDIh2Qb/P1vDg+qkV+ryS
    Myk+WvkBCoZBlxblQWzf9/Y7NmK7D1qZUXxcONB2TfQCb38KiQbCmJ/CXsujmDwW
    UXUMniMPmCwE3ow+PxAEhliLxHytMauZXI+Uu8q+O9+ooEec3aPqaCtzWL0v+mo2
    oiOG7OCIq60Qkro7eMSte54MB4iko+5LNZDZFWB8OT1vCq5oPT4T6jA6ayOJFXyO
    AYB/2rm9io56yzG3EDd8QcA2wpnElLjZK4Tw/F9wYPM0GKpJwZS9SXYVbqzQmfHZ
    ZWiGpxX82ZLdiSaYuIlepzS2a0Vt3RqBWhQQVHa/OzDMOD1jnLEis1M3/AMdmwIf
    8AFRvmp4MiKN1KqU82m60+dUgiarAwjKG6x5+q5/uFteVJLDYohfH/XIYreGETo+
    oHIiJ/m/7FX/C/s0oA3Q9Rt8KSqIQxxPpPwhoaEF3M0aky+cv6v7LhM2MEYKWEmx
    b+nmrmnYJx2U0fuiN/iYi5wtpgHMQuS8O+yOzjxsIpr1Qm7hYAQBcnUX5Sc2baB4
    j19jMYfBxBsVXZWh1BF5Ete9Btr+ye9WVQAq3Ypaho08J7BZ/WzFJPx3dHRaddgM
    g61PodRjxxmeWlD78/JM5QpqUyhQ3Iikx1Ksgt+Yg9SyD53V025sTtAh6ivcV6TP
    7kMhDyyd8K0MvF5seYTru/88Xz9PJcoOQRC9lcvQzlCfpIe14n76chluKq57JvpH
    eo0Me1ePXUy5/k89w3c6x/SFcq77zBSgAlVS0dfahZczLsSnNBZcfselrS5XQ2Ad
    Il6dqqiShCc94U+FE3DMYxyoG0W7Enobn5e2eGAx47Z5G2eq25KHixuIDCrs3GBr
    +XxQD105eGkOaoDaNPy4EX5Ch3Au1UYhQEyEicaevVUd/fNRd48jcUjLiZqimlW/
    4nGtrABQHyieR+4w8SQF/sgrIcB5LmYiMXtcZT90XDYmVGRioyl6TMSIPXlZm6oj
    8P/FrDdoZJW+vHrZelmgliNtZtezGGAkcmleilgRNRpXOp34rGi98nm4R8vHj217
    Cj3W9AkLCYDPAkDP1l2cfA6f1ENLbLsootUGKk42BNDQst6Yq8+wkGHExqplN04g
    DDIFValMGwj7YNQQww97UdvHayYZEat/UfF+DXLdxSMirIQ7a3JgpYRF+n7F4VT0
    9ppK0CfOSbOkio/H3QVggMaQwB2IrFn6JzrUM7UaQMRQN1y3/fJrHHdcbgxTqFj+
    M/UGMqOgCkpS9tJMuSep6JPOanNy1/npY0wFus/lekPgsgRCMBBmA5qsDAH21yr/
    Rrg0GfsULo25sPxGonuOMYhsHERLx9SI8087WadPMWZJmNHNVleIDonYT4eEQQna
    pZC6F3bhBVbnETJy3ADOpIFqfJ461K6cNmSnTw8qYr25uRJ/0eiKb6LZ7/rRJ8yC
    3JqQXCSlZ/fb3wSsNZ82ZGUXJmGGu7QEzKeNDVLwxGEW
    -----END ENCRYPTED PRIVATE KEY-----
    """
}
