// cpp-httplib with the compile-time settings of this project. Every translation unit that
// uses the library includes it through this header, so all of them see the same definitions
// (an inline function compiled differently in two files would break the one-definition rule).
// Limits chosen here are in README "Limits".
#pragma once

#define CPPHTTPLIB_LISTEN_BACKLOG 1024
#define CPPHTTPLIB_TCP_NODELAY true
#define CPPHTTPLIB_HEADER_MAX_LENGTH 65536
#define CPPHTTPLIB_HEADER_MAX_COUNT 256
#define CPPHTTPLIB_REQUEST_URI_MAX_LENGTH 16384
#define CPPHTTPLIB_KEEPALIVE_MAX_COUNT 100000
#define CPPHTTPLIB_THREAD_POOL_IDLE_TIMEOUT 10
// TLS through OpenSSL, for the outbound client only (auth plugin, OIDC discovery, JWKS over
// https, auth/http_client.cc). Nothing here serves TLS: the function port has its own transport
// and the metrics port is an httplib::Server, never an SSLServer; the define only compiles in
// the SSL classes and the client's https branch.
#define CPPHTTPLIB_OPENSSL_SUPPORT
// Never defined: CPPHTTPLIB_ZLIB_SUPPORT, CPPHTTPLIB_BROTLI_SUPPORT, CPPHTTPLIB_ZSTD_SUPPORT
// (request bodies must reach the verifier as wire bytes).
#include <httplib.h>

#if defined(CPPHTTPLIB_ZLIB_SUPPORT) || defined(CPPHTTPLIB_BROTLI_SUPPORT)
#error "hmac-watchdog must not decode request bodies: build cpp-httplib without compression"
#endif
