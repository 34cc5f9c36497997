// What a provider scheme is: a name, how to tell that a request carries its signature, how a
// secret is prepared at (re)load, how one request is checked, and how a sender would sign.
// registry.cc lists them: most as one row of data (table_scheme.h), the rest in a file each.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/expected.h"
#include "config/config.h"
#include "crypto/bytes.h"
#include "crypto/ed25519.h"
#include "crypto/hmac.h"
#include "secrets/secret.h"
#include "signature/outcome.h"
#include "signature/request_view.h"

namespace hw::signature {

struct PlainMac;  // hmac_scheme.h

// One secret prepared for one scheme when it is (re)loaded. Immutable afterwards and shared
// by every request that started while it was current.
struct PreparedKey {
  std::vector<crypto::HmacKey> macs;                // one per algorithm the scheme uses
  crypto::Bytes token_digest;                       // token schemes: SHA-256 of the token
  std::optional<crypto::Ed25519PublicKey> ed25519;  // public-key schemes

  // The pre-keyed MAC for `algorithm`, or null if the scheme did not prepare one.
  const crypto::HmacKey* Mac(crypto::Algorithm algorithm) const;
};

// What a scheme sees of one request.
struct Request {
  const RequestHead& head;
  const Clock& clock;                   // read by the schemes that check a timestamp
  std::chrono::milliseconds tolerance;  // hmac_tolerance
  bool replay_cache;                    // hmac_replay_cache > 0: delivery ids are required
  // Where the scheme places its BodyCheck (MakeCheck): the request's own arena in the
  // Verifier, so a check costs no allocation of its own.
  std::pmr::memory_resource* arena = std::pmr::new_delete_resource();
};

// One request's check against one scheme, once the headers said it needs the body.
class BodyCheck {
 public:
  virtual ~BodyCheck() = default;
  virtual void Update(std::string_view chunk) = 0;
  // valid or mismatch (or another failure); called once.
  virtual Outcome Finish() = 0;
};

// Destroys a check made by MakeCheck and gives its memory back to the arena it came from.
struct DestroyCheck {
  std::pmr::memory_resource* arena = nullptr;
  void* memory = nullptr;  // what the arena gave (not assumed to be the BodyCheck's address)
  std::size_t size = 0;
  std::size_t align = 0;
  void operator()(BodyCheck* check) const {
    check->~BodyCheck();
    arena->deallocate(memory, size, align);
  }
};
using BodyCheckPtr = std::unique_ptr<BodyCheck, DestroyCheck>;

// A check of type T, constructed in `request.arena`.
template <typename T, typename... Args>
BodyCheckPtr MakeCheck(const Request& request, Args&&... args) {
  void* at = request.arena->allocate(sizeof(T), alignof(T));
  try {
    return BodyCheckPtr(new (at) T(std::forward<Args>(args)...),
                        DestroyCheck{request.arena, at, sizeof(T), alignof(T)});
  } catch (...) {
    request.arena->deallocate(at, sizeof(T), alignof(T));
    throw;
  }
}

// What a scheme decided from the headers: either an outcome, or a check that needs the body.
struct Started {
  Outcome outcome = Outcome::kMismatch;  // meaningful when `check` is null
  BodyCheckPtr check;
  std::string replay_key;  // "" = nothing to remember; else "<id header>:<id>" or "mac:<hex>"
  // The key is the signature itself (no signed id): remembered for hmac_dedupe_window rather
  // than the timestamp window.
  bool keyed_on_signature = false;
};

// What the sign command knows about the request it signs for.
struct SignInput {
  std::string_view body;
  std::int64_t timestamp = 0;  // Unix seconds
  std::string_view id;         // delivery/message id, for schemes that send one
  std::string_view method = "POST";
  std::string_view path = "/";
  std::string_view query;
};
using HeaderLine = std::pair<std::string, std::string>;  // name, value

class Scheme {
 public:
  virtual ~Scheme() = default;
  // The configured name, e.g. "github"; static storage.
  virtual std::string_view Name() const = 0;
  // True when the request carries this scheme's signature header at all (the rule for
  // several configured schemes: only those whose header is present are checked).
  virtual bool Present(const HeaderSource& headers) const = 0;
  // Prepares one secret. Error (never containing secret bytes) if the secret does not have
  // the form this scheme needs, e.g. a Standard Webhooks secret that is not base64.
  virtual Expected<PreparedKey> Prepare(const secrets::Secret& secret) const = 0;
  // Parses and checks the headers; returns an outcome when they alone decide, otherwise a
  // check to feed the body to. `keys` holds one prepared key per configured secret.
  virtual Started Start(const Request& request, std::span<const PreparedKey> keys) const = 0;
  // True when the secret file holds a public key (discord): such a file must never also key
  // an HMAC scheme, or anyone who knows the published key could sign.
  virtual bool SecretIsPublic() const { return false; }
  // Non-null when the scheme is of the plainest form (PlainMac, hmac_scheme.h): the Verifier
  // then checks it by that description when it is configured alone. Static for the scheme's
  // lifetime.
  virtual const PlainMac* Plain() const { return nullptr; }
  // The name of the header that carries the signature (what sign --value prints the value
  // of); for a scheme with several possible names, the one Sign sends.
  virtual std::string SignatureHeaderName() const = 0;
  // The header lines a sender of this scheme would send for `input.body` signed with
  // `secret`.
  virtual Expected<std::vector<HeaderLine>> Sign(const secrets::Secret& secret,
                                                 const SignInput& input) const = 0;
};

// Makes a scheme from the signature options; Error (naming the variable) if an option the
// scheme needs is missing or bad.
using SchemeFactory = Expected<std::unique_ptr<Scheme>> (*)(const config::SignatureOptions&);

}  // namespace hw::signature
