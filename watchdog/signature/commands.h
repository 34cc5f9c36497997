// The `sign` and `verify` subcommands: produce the headers a sender of a scheme would send,
// and check a request given on the command line, without starting the server. main.cc parses
// the flags and calls these.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"

namespace hw::signature {

struct SignRequest {
  std::string scheme;
  std::string secret_file;                // a direct path; trimmed unless options.secret_raw
  std::optional<std::int64_t> timestamp;  // Unix seconds; default: now
  std::string id;                         // delivery id; default: random where the scheme sends one
  std::string header;                     // hmac_header override
  std::string method = "POST";            // for schemes that sign the method (hubspot)
  std::string path = "/";                 // may carry "?query" (twilio's bodySHA256)
  bool value_only = false;                // --value: print only the signature's value
  config::SignatureOptions options;       // generic algorithm/encoding/prefix, public_url
};

// Reads the body from `body` and prints the header line(s) "Name: value" a sender of that
// scheme would send; with value_only, just the value of the signature header
// (Scheme::SignatureHeaderName), for sig=$(hmac-watchdog sign --value ...). Returns 0 on success; 2
// for an unknown scheme, bad options or a timestamp outside 0..253402300799 (year 9999); 1 if the
// secret file cannot be used. Errors go to `err` and never contain the secret.
int RunSign(const SignRequest& request, std::istream& body, std::ostream& out, std::ostream& err);

struct VerifyRequest {
  std::string scheme;
  std::string secret_file;
  std::vector<std::string> headers;  // "Name: value"
  std::optional<std::int64_t> now;   // Unix seconds; default: the system clock
  std::string method = "POST";
  std::string path = "/";  // may carry "?query"
  config::SignatureOptions options;
};

// Checks the request (headers from the command line, body from `body`) as the server would
// and prints the outcome name. Returns 0 only when the outcome is valid; 1 for any other
// outcome; 2 for bad arguments (including `now` outside 0..253402300799) or an unusable
// secret (the reason goes to `err`).
int RunVerify(const VerifyRequest& request, std::istream& body, std::ostream& out,
              std::ostream& err);

}  // namespace hw::signature
