// The cluster secret and the challenge-response that proves a connection's
// other end holds it (docs/security.md, "Peer authentication").
//
// Both ends of a new connection draw a fresh random nonce. The connector sends
// its nonce (AuthHello); the acceptor answers with its own nonce and a proof
// over both (AuthChallenge); the connector checks that proof and sends its own
// (AuthProof). Each proof is HMAC-SHA256 keyed by the secret over a label that
// says which side made it, then both nonces: a proof cannot be reflected back
// to its maker, and one recorded on another connection does not fit this
// one's nonces. The secret itself never crosses the wire.
//
// This file and auth.cpp are the only place OpenSSL's libcrypto is used.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "tally/status.hpp"

namespace tally::auth {

constexpr size_t kNonceBytes = 32;
constexpr size_t kProofBytes = 32;  // HMAC-SHA256
constexpr size_t kMinSecretBytes = 16;

// Reads a cluster secret file: its bytes, without trailing whitespace.
// Errors (kConfigError) name the file and the problem: missing or unreadable,
// shorter than kMinSecretBytes, or readable by users other than its owner.
Result<std::string> read_secret_file(const std::string& path);

// kNonceBytes bytes from the operating system's cryptographic generator.
std::string fresh_nonce();

// The acceptor's proof, answering the connector's nonce with its own.
std::string acceptor_proof(std::string_view secret, std::string_view connector_nonce,
                           std::string_view acceptor_nonce);
// The connector's proof over the same nonces.
std::string connector_proof(std::string_view secret, std::string_view connector_nonce,
                            std::string_view acceptor_nonce);

// Compares a received proof with the expected one in constant time.
bool proof_matches(std::string_view expected, std::string_view received);
// Compares a password with the configured one without an early exit.
bool password_matches(std::string_view expected, std::string_view received);

}  // namespace tally::auth
