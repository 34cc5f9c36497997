// The request target (RFC 9112 section 3.2) split into the path every decision is made on and
// the raw query. The path is percent-decoded once, strictly by RFC 3986: the form a fork-mode
// function receives as Http_Path and the one an http-mode function gets when it decodes the
// forwarded target once. Decisions (allow-list, URL-signing schemes, Http_Path, the access
// log) are all made on this one value, computed once per request.
#pragma once

#include <string>
#include <string_view>

#include "common/expected.h"

namespace hw::server {

struct RequestTarget {
  std::string path;        // decoded, starts with '/'
  std::string_view query;  // raw, without '?', points into the target given to Parse
};

// Splits and decodes an origin-form ("/a%20b?x=1") or absolute-form ("http://h/a?x=1")
// target. Fails, with a message fit for a 400 body, on: a target that is neither; '%' not
// followed by two hex digits (this includes the non-standard "%uXXXX" form); an encoded NUL.
Expected<RequestTarget> ParseRequestTarget(std::string_view target);

}  // namespace hw::server
