// The OpenSSL headers edgescope uses, and one-line wrappers for the macros Swift cannot import
// (type-generic stacks, ctrl-based setters, OPENSSL_free). Imported only by OpenSSLBridge.
#ifndef EDGESCOPE_COPENSSL_H
#define EDGESCOPE_COPENSSL_H

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

// STACK_OF(X509): sk_X509_* are macros over OPENSSL_sk_* with casts.
STACK_OF(X509) *COpenSSL_sk_X509_new_null(void);
int COpenSSL_sk_X509_push(STACK_OF(X509) *stack, X509 *certificate);
int COpenSSL_sk_X509_num(const STACK_OF(X509) *stack);
X509 *COpenSSL_sk_X509_value(const STACK_OF(X509) *stack, int index);
/// Frees the stack, not the certificates in it.
void COpenSSL_sk_X509_free(STACK_OF(X509) *stack);

// GENERAL_NAMES (subjectAltName) and AUTHORITY_INFO_ACCESS are stacks too.
int COpenSSL_sk_GENERAL_NAME_num(const GENERAL_NAMES *names);
GENERAL_NAME *COpenSSL_sk_GENERAL_NAME_value(const GENERAL_NAMES *names, int index);
int COpenSSL_sk_ACCESS_DESCRIPTION_num(const AUTHORITY_INFO_ACCESS *access);
ACCESS_DESCRIPTION *COpenSSL_sk_ACCESS_DESCRIPTION_value(const AUTHORITY_INFO_ACCESS *access, int index);

/// XN_FLAG_RFC2253 without ASN1_STRFLGS_ESC_MSB: RFC 2253 order and escaping, UTF-8 kept readable.
unsigned long COpenSSL_XN_FLAG_RFC2253_UTF8(void);

// ctrl-based macros.
long COpenSSL_SSL_set_tlsext_host_name(SSL *ssl, const char *name);
long COpenSSL_BIO_set_mem_eof_return(BIO *bio, int value);

void COpenSSL_OPENSSL_free(void *pointer);

// Key generation and memory BIOs (macros) for `edgescope replay --forge-chain`.
EVP_PKEY *COpenSSL_EVP_EC_gen_P256(void);
long COpenSSL_BIO_get_mem_data(BIO *bio, char **data);

#endif
