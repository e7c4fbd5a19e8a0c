// "host:port" addresses, as they appear in config files, on the command line
// and in TALLY_ENDPOINTS.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tally/status.hpp"

namespace tally {

struct HostPort {
  std::string host;  // a name or an IPv4/IPv6 literal (IPv6 written as [::1]:7401)
  uint16_t port = 0;

  std::string to_string() const;
  bool operator==(const HostPort&) const = default;
};

// Parses "host:port" or "[v6]:port". Errors name the text and what is wrong.
Result<HostPort> parse_host_port(std::string_view text);

// Parses a comma-separated list ("a:1,b:2"); empty items are errors.
Result<std::vector<HostPort>> parse_endpoint_list(std::string_view text);

}  // namespace tally
