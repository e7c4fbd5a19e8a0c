#include "node/resp.hpp"

#include <algorithm>
#include <charconv>

namespace tally::resp {

namespace {

// A "*<n>" or "$<n>" header never needs more than a sign and 19 digits: a
// longer line is refused before its end arrives.
constexpr size_t kMaxHeaderLine = 32;
// What an argument costs beyond its bytes, counted against the buffer cap so
// that an array of a million empty strings cannot slip under it.
constexpr size_t kArgOverhead = sizeof(std::string);

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A backslash escape in double quotes: \n \r \t \b \a, else the character itself.
char unescape(char e) {
  constexpr std::string_view kFrom = "nrtba", kTo = "\n\r\t\b\a";
  size_t at = kFrom.find(e);
  return at == std::string_view::npos ? e : kTo[at];
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// Splits an inline request as redis-cli and Redis' sdssplitargs do: words
// separated by blanks; "double quotes" with \n \r \t \b \a \\ \" and \xHH
// escapes; 'single quotes' with \' only. A closing quote must end the word.
bool split_inline(std::string_view line, Command& out) {
  size_t i = 0;
  const size_t n = line.size();
  for (;;) {
    while (i < n && is_space(line[i])) ++i;
    if (i == n) return true;
    std::string word;
    if (line[i] == '"' || line[i] == '\'') {
      const char quote = line[i++];
      for (;;) {
        if (i == n) return false;  // no closing quote
        char c = line[i];
        if (c == quote) {
          ++i;
          if (i < n && !is_space(line[i])) return false;  // "a"b
          break;
        }
        if (c == '\\' && quote == '"' && i + 3 < n && line[i + 1] == 'x' &&
            hex_digit(line[i + 2]) >= 0 && hex_digit(line[i + 3]) >= 0) {
          word.push_back(static_cast<char>(hex_digit(line[i + 2]) * 16 + hex_digit(line[i + 3])));
          i += 4;
        } else if (c == '\\' && quote == '"' && i + 1 < n) {
          word.push_back(unescape(line[i + 1]));
          i += 2;
        } else if (c == '\\' && quote == '\'' && i + 1 < n && line[i + 1] == '\'') {
          word.push_back('\'');
          i += 2;
        } else {
          word.push_back(c);
          ++i;
        }
      }
    } else {
      while (i < n && !is_space(line[i])) word.push_back(line[i++]);
    }
    out.push_back(std::move(word));
  }
}

void put_line(std::string& out, char type, std::string_view text) {
  out.push_back(type);
  size_t at = out.size();
  out.append(text);
  std::replace_if(
      out.begin() + static_cast<std::ptrdiff_t>(at), out.end(),
      [](char c) { return c == '\r' || c == '\n'; }, ' ');
  out.append("\r\n");
}

}  // namespace

bool parse_integer(std::string_view text, int64_t& out) {
  if (text.empty() || text[0] == '+') return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

// ---- Parser -----------------------------------------------------------------------

Status Parser::fail(Status why) {
  failed_ = std::move(why);
  buf_.clear();
  buf_.shrink_to_fit();
  pos_ = 0;
  taken_.clear();
  taken_bytes_ = 0;
  return failed_;
}

Status Parser::feed(std::string_view bytes) {
  if (!failed_.ok()) return failed_;
  if (buffered() + bytes.size() > limits_.max_buffered_bytes) {
    return fail(Status::TooLarge("too big request: more than " +
                                 std::to_string(limits_.max_buffered_bytes) + " bytes unparsed"));
  }
  // Compact before growing so a long-lived connection's buffer stays small.
  if (pos_ > 0 && (pos_ == buf_.size() || pos_ > buf_.size() / 2)) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes.data(), bytes.size());
  return Status::Ok();
}

Result<bool> Parser::next(Command& out) {
  for (;;) {
    if (!failed_.ok()) return failed_;
    if (array_len_ >= 0) return next_in_array(out);
    if (pos_ == buf_.size()) return false;
    if (buf_[pos_] != '*') {
      Result<bool> got = next_inline(out);
      // An empty line is no command: look further.
      if (got.ok() && *got && out.empty()) continue;
      return got;
    }
    std::string_view line;
    Result<bool> have = header_line("too big mbulk count string", line);
    if (!have.ok() || !*have) return have;
    int64_t n = 0;
    if (!parse_integer(line, n) || n > static_cast<int64_t>(limits_.max_args)) {
      return fail(Status::ProtocolError("invalid multibulk length"));
    }
    if (n <= 0) continue;  // *0 and *-1: nothing to run
    array_len_ = n;
    bulk_len_ = -1;
  }
}

Result<bool> Parser::header_line(std::string_view too_big, std::string_view& line) {
  std::string_view rest(buf_.data() + pos_, buf_.size() - pos_);
  size_t crlf = rest.substr(0, kMaxHeaderLine + 2).find("\r\n");
  if (crlf == std::string_view::npos) {
    if (rest.size() >= kMaxHeaderLine + 2) return fail(Status::ProtocolError(std::string(too_big)));
    return false;
  }
  line = rest.substr(1, crlf - 1);  // after the type byte
  pos_ += crlf + 2;
  return true;
}

Result<bool> Parser::next_inline(Command& out) {
  std::string_view rest(buf_.data() + pos_, buf_.size() - pos_);
  // No text command starts with a NUL: this is binary, most likely tally's
  // wire protocol (a frame's length starts with 0) sent to the RESP port.
  // Said at once, rather than waiting for a newline that never comes.
  if (!rest.empty() && rest.front() == '\0') {
    return fail(Status::ProtocolError("binary data where a command was expected (tally's wire protocol goes to "
                                      "the node's listen port, not its resp_listen port)"));
  }
  size_t nl = rest.substr(0, limits_.max_inline_bytes + 1).find('\n');
  if (nl == std::string_view::npos) {
    if (rest.size() > limits_.max_inline_bytes)
      return fail(Status::ProtocolError("too big inline request"));
    return false;
  }
  std::string_view line = rest.substr(0, nl);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  out.clear();
  if (!split_inline(line, out)) return fail(Status::ProtocolError("unbalanced quotes in request"));
  pos_ += nl + 1;
  return true;
}

Result<bool> Parser::next_in_array(Command& out) {
  while (taken_.size() < static_cast<size_t>(array_len_)) {
    if (bulk_len_ < 0) {
      if (pos_ == buf_.size()) return false;
      if (buf_[pos_] != '$') {
        return fail(Status::ProtocolError(std::string("expected '$', got '") + buf_[pos_] + "'"));
      }
      std::string_view line;
      Result<bool> have = header_line("too big bulk count string", line);
      if (!have.ok() || !*have) return have;
      int64_t n = 0;
      if (!parse_integer(line, n) || n < 0)
        return fail(Status::ProtocolError("invalid bulk length"));
      if (static_cast<uint64_t>(n) > limits_.max_bulk_bytes) {
        return fail(Status::ProtocolError("invalid bulk length: " + std::to_string(n) +
                                          " bytes, the limit is " +
                                          std::to_string(limits_.max_bulk_bytes)));
      }
      bulk_len_ = n;
    }
    const size_t len = static_cast<size_t>(bulk_len_);
    if (buf_.size() - pos_ < len + 2) return false;
    if (buf_[pos_ + len] != '\r' || buf_[pos_ + len + 1] != '\n') {
      return fail(Status::ProtocolError("expected CRLF after a bulk string of " +
                                        std::to_string(len) + " bytes"));
    }
    taken_.emplace_back(buf_, pos_, len);
    taken_bytes_ += len + kArgOverhead;
    pos_ += len + 2;
    bulk_len_ = -1;
  }
  out = std::move(taken_);
  taken_ = Command();
  taken_bytes_ = 0;
  array_len_ = -1;
  return true;
}

// ---- encoders ---------------------------------------------------------------------

void put_simple(std::string& out, std::string_view text) { put_line(out, '+', text); }

void put_error(std::string& out, std::string_view text) { put_line(out, '-', text); }

void put_integer(std::string& out, int64_t n) {
  out.push_back(':');
  out.append(std::to_string(n));
  out.append("\r\n");
}

void put_bulk(std::string& out, std::string_view bytes) {
  out.push_back('$');
  out.append(std::to_string(bytes.size()));
  out.append("\r\n");
  out.append(bytes);
  out.append("\r\n");
}

void put_null_bulk(std::string& out) { out.append("$-1\r\n"); }

void put_array_header(std::string& out, size_t n) {
  out.push_back('*');
  out.append(std::to_string(n));
  out.append("\r\n");
}

void put_null_array(std::string& out) { out.append("*-1\r\n"); }

}  // namespace tally::resp
