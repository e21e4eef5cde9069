// The system's OpenSSL (libssl, libcrypto) for STARTTLS and DKIM. Only built when the
// package trait `OpenSSL` is on (the default); install `libssl-dev` (Debian/Ubuntu) or
// `openssl-devel` (Fedora/RHEL) for the headers.
#ifndef DIRECTSMTP_COPENSSL_SHIM_H
#define DIRECTSMTP_COPENSSL_SHIM_H

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/rand.h>
#include <openssl/opensslv.h>

// Several of OpenSSL's calls are macros, which Swift cannot import; these wrap them.

static inline long directsmtp_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_min_proto_version(ctx, version);
}

static inline long directsmtp_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return SSL_set_tlsext_host_name(ssl, name);
}

static inline EVP_PKEY *directsmtp_EVP_EC_gen(const char *curve) {
    return EVP_EC_gen(curve);
}

static inline long directsmtp_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}

static inline long directsmtp_SSL_CTX_set_max_cert_list(SSL_CTX *ctx, long bytes) {
    return SSL_CTX_set_max_cert_list(ctx, bytes);
}

static inline long directsmtp_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_session_cache_mode(ctx, mode);
}

static inline int directsmtp_SSL_set_app_data(SSL *ssl, void *data) {
    return SSL_set_app_data(ssl, data);
}

static inline void *directsmtp_SSL_get_app_data(const SSL *ssl) {
    return SSL_get_app_data(ssl);
}

static inline long directsmtp_SSL_CTX_client_session_cache(void) {
    return SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE;
}

static inline long directsmtp_SSL_CTX_add1_chain_cert(SSL_CTX *ctx, X509 *cert) {
    return SSL_CTX_add1_chain_cert(ctx, cert);
}

// --- DKIM (libcrypto only): key inspection across OpenSSL 1.1 and 3 -----------------------
// OpenSSL 3 renamed EVP_PKEY_base_id/EVP_PKEY_bits to EVP_PKEY_get_*, keeping the old names
// as macros; these wrappers compile against either.

static inline int directsmtp_EVP_PKEY_base_id(const EVP_PKEY *pkey) {
    return EVP_PKEY_base_id(pkey);
}

static inline int directsmtp_EVP_PKEY_bits(const EVP_PKEY *pkey) {
    return EVP_PKEY_bits(pkey);
}

static inline int directsmtp_EVP_PKEY_RSA(void) { return EVP_PKEY_RSA; }

static inline int directsmtp_EVP_PKEY_ED25519(void) { return EVP_PKEY_ED25519; }

// Macros in OpenSSL 1.1, functions in 3: an RSA signing context prepared once per key.
static inline int directsmtp_EVP_PKEY_CTX_set_rsa_padding(EVP_PKEY_CTX *ctx, int padding) {
    return EVP_PKEY_CTX_set_rsa_padding(ctx, padding);
}

static inline int directsmtp_EVP_PKEY_CTX_set_signature_md(EVP_PKEY_CTX *ctx, const EVP_MD *md) {
    return EVP_PKEY_CTX_set_signature_md(ctx, md);
}
// --- end DKIM ------------------------------------------------------------------------------

#endif
