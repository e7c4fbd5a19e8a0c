#include "common/auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace tally::auth {

namespace {

std::string proof(std::string_view label, std::string_view secret, std::string_view connector_nonce,
                  std::string_view acceptor_nonce) {
  std::string data;
  data.reserve(label.size() + 1 + connector_nonce.size() + acceptor_nonce.size());
  data.append(label).push_back('\0');
  data.append(connector_nonce).append(acceptor_nonce);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len)) {
    throw std::runtime_error("HMAC-SHA256 failed");  // libcrypto itself is broken
  }
  return std::string(reinterpret_cast<const char*>(mac), len);
}

}  // namespace

Result<std::string> read_secret_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Status::ConfigError("secret file " + path + " cannot be read (does it exist?)");
  }
  if (st.st_mode & 077) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status::ConfigError("secret file " + path + " is readable by other users (mode " + mode +
                               "): chmod 600 it");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::ConfigError("secret file " + path + " cannot be opened");
  std::stringstream s;
  s << in.rdbuf();
  std::string secret = s.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r' ||
                             secret.back() == ' ' || secret.back() == '\t')) {
    secret.pop_back();
  }
  if (secret.size() < kMinSecretBytes) {
    return Status::ConfigError("secret file " + path + " holds " + std::to_string(secret.size()) +
                               " bytes, at least " + std::to_string(kMinSecretBytes) +
                               " are needed (e.g. head -c 32 /dev/urandom | base64 > FILE)");
  }
  return secret;
}

std::string fresh_nonce() {
  std::string nonce(kNonceBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), static_cast<int>(nonce.size())) !=
      1) {
    throw std::runtime_error("the system's random generator failed");
  }
  return nonce;
}

std::string acceptor_proof(std::string_view secret, std::string_view connector_nonce,
                           std::string_view acceptor_nonce) {
  return proof("tally acceptor v1", secret, connector_nonce, acceptor_nonce);
}

std::string connector_proof(std::string_view secret, std::string_view connector_nonce,
                            std::string_view acceptor_nonce) {
  return proof("tally connector v1", secret, connector_nonce, acceptor_nonce);
}

bool proof_matches(std::string_view expected, std::string_view received) {
  return expected.size() == received.size() && expected.size() == kProofBytes &&
         CRYPTO_memcmp(expected.data(), received.data(), expected.size()) == 0;
}

bool password_matches(std::string_view expected, std::string_view received) {
  // Compare digests: equal lengths, and the length of the secret is not timed either.
  return CRYPTO_memcmp(acceptor_proof(expected, "password", "").data(),
                       acceptor_proof(received, "password", "").data(), kProofBytes) == 0;
}

}  // namespace tally::auth
