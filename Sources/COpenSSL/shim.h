#ifndef HYBRIDSYNC_COPENSSL_SHIM_H
#define HYBRIDSYNC_COPENSSL_SHIM_H
// OpenSSL's libcrypto (3.0): X25519, SHA-256, HMAC and AES-256-GCM through EVP. Its control codes are
// macros; these inline functions hand them to Swift. Every symbol is prefixed hs_ossl_.
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

static inline int hs_ossl_pkey_x25519(void) { return EVP_PKEY_X25519; }
static inline int hs_ossl_gcm_get_tag(void) { return EVP_CTRL_GCM_GET_TAG; }
static inline int hs_ossl_gcm_set_tag(void) { return EVP_CTRL_GCM_SET_TAG; }
#endif
