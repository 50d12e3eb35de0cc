#include "COpenSSL.h"

STACK_OF(X509) *COpenSSL_sk_X509_new_null(void) { return sk_X509_new_null(); }
int COpenSSL_sk_X509_push(STACK_OF(X509) *stack, X509 *certificate) { return sk_X509_push(stack, certificate); }
int COpenSSL_sk_X509_num(const STACK_OF(X509) *stack) { return sk_X509_num(stack); }
X509 *COpenSSL_sk_X509_value(const STACK_OF(X509) *stack, int index) { return sk_X509_value(stack, index); }
void COpenSSL_sk_X509_free(STACK_OF(X509) *stack) { sk_X509_free(stack); }

int COpenSSL_sk_GENERAL_NAME_num(const GENERAL_NAMES *names) { return sk_GENERAL_NAME_num(names); }
GENERAL_NAME *COpenSSL_sk_GENERAL_NAME_value(const GENERAL_NAMES *names, int index) { return sk_GENERAL_NAME_value(names, index); }
int COpenSSL_sk_ACCESS_DESCRIPTION_num(const AUTHORITY_INFO_ACCESS *access) { return sk_ACCESS_DESCRIPTION_num(access); }
ACCESS_DESCRIPTION *COpenSSL_sk_ACCESS_DESCRIPTION_value(const AUTHORITY_INFO_ACCESS *access, int index) { return sk_ACCESS_DESCRIPTION_value(access, index); }

unsigned long COpenSSL_XN_FLAG_RFC2253_UTF8(void) { return XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB; }

long COpenSSL_SSL_set_tlsext_host_name(SSL *ssl, const char *name) { return SSL_set_tlsext_host_name(ssl, name); }
long COpenSSL_BIO_set_mem_eof_return(BIO *bio, int value) { return BIO_set_mem_eof_return(bio, value); }

void COpenSSL_OPENSSL_free(void *pointer) { OPENSSL_free(pointer); }

EVP_PKEY *COpenSSL_EVP_EC_gen_P256(void) { return EVP_EC_gen("P-256"); }
long COpenSSL_BIO_get_mem_data(BIO *bio, char **data) { return BIO_get_mem_data(bio, data); }
