#include "net/http_request.hpp"

#include <algorithm>
#include <optional>

namespace tally::http {

namespace {

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) {
             return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
           };
           return lower(x) == lower(y);
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "close" and "keep-alive" among the comma-separated options of Connection.
bool has_option(std::string_view value, std::string_view option) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    if (iequals(trim(value.substr(0, comma)), option)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

// A printable shape of a few bytes of what a client sent, for error messages.
std::string shown(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 40)) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
      out += c;
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  if (s.size() > 40) out += "...";
  return out;
}

}  // namespace

std::string_view Request::path() const {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::optional<std::string_view> Request::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) return std::string_view(v);
  }
  return std::nullopt;
}

void RequestParser::feed(std::string_view bytes) {
  if (failed_) return;
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  buf_.append(bytes);
}

RequestParser::Next RequestParser::fail(int status, std::string reason) {
  failed_ = true;
  error_ = Error{status, std::move(reason)};
  buf_.clear();
  pos_ = 0;
  return Next::kError;
}

// A line (or the start of one) holding an LF that no CR precedes, within its
// first max_line_bytes: what the line is refused for, checked before its
// length so that a line gets the same verdict whether or not it is whole.
bool RequestParser::bare_lf(std::string_view line) const {
  return line.substr(0, limits_.max_line_bytes).find('\n') != std::string_view::npos;
}

RequestParser::Next RequestParser::next(Request* out) {
  if (failed_) return Next::kError;
  const std::string_view rest(buf_.data() + pos_, buf_.size() - pos_);
  // Line by line from where the last call stopped: every whole line is
  // checked against the limits before the head is parsed.
  // A head line, without its CRLF (or what has come of it), against the
  // limits: the failure, or nothing.
  auto check_line = [this](std::string_view line, bool request_line) -> std::optional<Next> {
    if (bare_lf(line)) return fail(400, "a line of the request head ends in a bare LF: use CRLF");
    if (line.size() <= limits_.max_line_bytes) return std::nullopt;
    return request_line ? fail(414, "request line longer than " + std::to_string(limits_.max_line_bytes) + " bytes")
                        : fail(431, "header line longer than " + std::to_string(limits_.max_line_bytes) + " bytes");
  };
  while (true) {
    const size_t eol = rest.find("\r\n", scan_at_);
    const bool request_line = scan_lines_ == 0;
    if (eol == std::string_view::npos) {
      size_t len = rest.size() - scan_at_;
      if (len > 0 && rest.back() == '\r') --len;  // its LF may be in the next read
      if (auto bad = check_line(rest.substr(scan_at_, len), request_line)) return *bad;
      if (pos_ > limits_.max_head_bytes) {  // keep the buffer from growing with pipelined requests
        buf_.erase(0, pos_);
        pos_ = 0;
      }
      return Next::kNeedMore;
    }
    const size_t len = eol - scan_at_;
    if (auto bad = check_line(rest.substr(scan_at_, len), request_line)) return *bad;
    if (eol + 2 > limits_.max_head_bytes) {
      return fail(431,
                  "request head longer than " + std::to_string(limits_.max_head_bytes) + " bytes");
    }
    if (len == 0) {
      if (request_line) return fail(400, "empty request line");
      const size_t head_len = eol;
      scan_at_ = 0;
      scan_lines_ = 0;
      Next n = parse_head(rest.substr(0, head_len), out);
      if (n == Next::kRequest) pos_ += head_len + 2;
      return n;
    }
    if (!request_line && scan_lines_ > limits_.max_headers) {
      return fail(431, "more than " + std::to_string(limits_.max_headers) + " header fields");
    }
    ++scan_lines_;
    scan_at_ = eol + 2;
  }
}

RequestParser::Next RequestParser::parse_head(std::string_view head, Request* out) {
  Request r;
  size_t eol = head.find("\r\n");
  const std::string_view line = head.substr(0, eol);
  head = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);

  // Request line: method SP target SP version, single spaces.
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return fail(400,
                "malformed request line '" + shown(line) + "': expected METHOD /path HTTP/1.1");
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (method.empty() || method.size() > 16 ||
      !std::all_of(method.begin(), method.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
    return fail(400, "bad method '" + shown(method) + "': expected capital letters, as GET");
  }
  if (target.empty() || target[0] != '/' ||
      !std::all_of(target.begin(), target.end(), [](char c) { return c > 0x20 && c < 0x7f; })) {
    return fail(400,
                "bad request target '" + shown(target) + "': expected a path starting with '/'");
  }
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
    return fail(400, "bad protocol version '" + shown(version) + "': expected HTTP/1.1");
  }
  if (version[5] != '1' || version[7] > '1') {
    return fail(
        505, "HTTP version " + std::string(version.substr(5)) + " is not supported: use HTTP/1.1");
  }
  r.method = method;
  r.target = target;
  r.minor_version = version[7] - '0';

  // Header fields: token ':' OWS value OWS.
  size_t hosts = 0;
  bool close = false, keep_alive = false;
  while (!head.empty()) {
    eol = head.find("\r\n");
    const std::string_view field = head.substr(0, eol);
    head = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
    if (field[0] == ' ' || field[0] == '\t')
      return fail(400, "obsolete line folding in the headers");
    const size_t colon = field.find(':');
    const std::string_view name = field.substr(0, colon);
    if (colon == std::string_view::npos || name.empty() ||
        !std::all_of(name.begin(), name.end(), is_tchar)) {
      return fail(400, "malformed header line '" + shown(field) + "': expected Name: value");
    }
    const std::string_view value = trim(field.substr(colon + 1));
    if (!std::all_of(value.begin(), value.end(), [](char c) {
          auto u = static_cast<unsigned char>(c);
          return u == '\t' || (u >= 0x20 && u != 0x7f);
        })) {
      return fail(400, "control character in the value of header '" + shown(name) + "'");
    }
    if (iequals(name, "Host")) ++hosts;
    if (iequals(name, "Content-Length")) {
      if (value.empty() ||
          !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return fail(400, "bad Content-Length '" + shown(value) + "'");
      }
      if (value.find_first_not_of('0') != std::string_view::npos) {
        return fail(413,
                    "request bodies are not accepted here (Content-Length " + shown(value) + ")");
      }
    }
    if (iequals(name, "Transfer-Encoding")) {
      return fail(413,
                  "request bodies are not accepted here (Transfer-Encoding " + shown(value) + ")");
    }
    if (iequals(name, "Connection")) {
      close = close || has_option(value, "close");
      keep_alive = keep_alive || has_option(value, "keep-alive");
    }
    r.headers.emplace_back(std::string(name), std::string(value));
  }
  if (r.minor_version == 1 && hosts != 1) {
    return fail(
        400, hosts == 0 ? "HTTP/1.1 request without a Host header" : "more than one Host header");
  }
  r.keep_alive = r.minor_version == 1 ? !close : keep_alive && !close;
  *out = std::move(r);
  return Next::kRequest;
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Error";
  }
}

}  // namespace tally::http
