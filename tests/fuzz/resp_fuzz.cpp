// libFuzzer target for resp::Parser, the RESP2 request parser behind a node's
// resp_listen port (`make fuzz`; see README.md here).
//
// Input layout: byte 0 picks the limits, byte 1 seeds the chunk sizes, the
// rest is what a client sent. Besides "no crash, no sanitizer report":
//  - the stream fed whole and cut into chunks (commands taken after every
//    feed) gives the same commands and the same error;
//  - with a small buffer cap, a reader that takes commands as they come gets
//    a prefix of them, fails (if it does) with kTooLarge or the error the
//    stream has anyway, and holds no more than the cap after a feed (taking
//    arguments apart may add their overhead on top until the next feed: at
//    most sizeof(std::string) per 6-byte "$0\r\n\r\n", so under 6 times the cap);
//  - every command is non-empty and within the limits;
//  - each command, written back as a RESP array with the encoders the node
//    uses and as an inline line with quotes and escapes, parses to itself;
//  - a failure sticks, with the code its header documents.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "node/resp.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

using tally::Code;
namespace resp = tally::resp;

struct Parsed {
  std::vector<resp::Command> commands;
  Code error = Code::kOk;
  std::string message;
  size_t max_after_feed = 0;  // the most buffered() said right after a feed
  size_t max_buffered = 0;    // ... at any time
};

Parsed run(const std::vector<std::string_view>& chunks, const resp::Limits& limits) {
  resp::Parser parser(limits);
  Parsed out;
  resp::Command cmd;
  auto fail = [&](const tally::Status& s) {
    out.error = s.code();
    out.message = s.message();
    FUZZ_CHECK(parser.failed());
    // Sticky: more bytes change nothing.
    FUZZ_CHECK(parser.feed("PING\r\n").code() == s.code());
    auto again = parser.next(cmd);
    FUZZ_CHECK(!again.ok() && again.status().code() == s.code());
    return out;
  };
  for (auto chunk : chunks) {
    tally::Status fed = parser.feed(chunk);
    out.max_after_feed = std::max(out.max_after_feed, parser.buffered());
    out.max_buffered = std::max(out.max_buffered, parser.buffered());
    if (!fed.ok()) return fail(fed);
    for (;;) {
      auto got = parser.next(cmd);
      out.max_buffered = std::max(out.max_buffered, parser.buffered());
      if (!got.ok()) return fail(got.status());
      if (!*got) break;
      out.commands.push_back(cmd);
    }
  }
  return out;
}

// The command as a RESP array, as every client library sends it.
std::string as_array(const resp::Command& cmd) {
  std::string out;
  resp::put_array_header(out, cmd.size());
  for (const auto& arg : cmd) resp::put_bulk(out, arg);
  return out;
}

// The command as an inline line, each argument in double quotes with every
// byte that is not plain printable text escaped (as redis-cli prints them).
std::string as_inline(const resp::Command& cmd) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (const auto& arg : cmd) {
    if (!out.empty()) out.push_back(' ');
    out.push_back('"');
    for (unsigned char c : arg) {
      if (c == '"' || c == '\\') {
        out.push_back('\\');
        out.push_back(static_cast<char>(c));
      } else if (c >= 0x20 && c < 0x7f) {
        out.push_back(static_cast<char>(c));
      } else {
        out += "\\x";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
      }
    }
    out.push_back('"');
  }
  out += "\r\n";
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  // Small limits so that the fuzzer reaches them; a cap on the buffer far
  // above the input for the whole-versus-chunked comparison, which a cap
  // would make depend on how the stream was cut.
  resp::Limits limits;
  limits.max_args = 1 + data[0] % 8;
  limits.max_bulk_bytes =
      (data[0] >> 3) % 4 == 0 ? 0 : 1u << ((data[0] >> 3) % 4 * 3);  // 0, 8, 64, 512
  limits.max_inline_bytes = 16u << ((data[0] >> 5) % 4);             // 16..128
  limits.max_buffered_bytes = size * 6 + 1024;
  std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);
  const std::vector<std::string_view> chunks = split_feeds(stream, data[1]);

  const Parsed whole = run({stream}, limits);
  const Parsed pieces = run(chunks, limits);
  FUZZ_CHECK(whole.commands == pieces.commands);
  FUZZ_CHECK(whole.error == pieces.error && whole.message == pieces.message);
  FUZZ_CHECK(whole.error == Code::kOk || whole.error == Code::kProtocolError);
  FUZZ_CHECK(whole.error == Code::kOk || !whole.message.empty());

  for (const auto& cmd : whole.commands) {
    FUZZ_CHECK(!cmd.empty());
    for (const auto& arg : cmd)
      FUZZ_CHECK(arg.size() <= std::max(limits.max_bulk_bytes, limits.max_inline_bytes));
  }

  // Written back, each command parses to itself (default limits: an inline
  // line of many short words may hold more arguments than max_args allows an
  // array, as in Redis).
  for (const auto& cmd : whole.commands) {
    for (const std::string& text : {as_array(cmd), as_inline(cmd)}) {
      const Parsed back = run({text}, resp::Limits{});
      FUZZ_CHECK(back.error == Code::kOk && back.commands.size() == 1 && back.commands[0] == cmd);
    }
  }

  // A small cap on unparsed bytes, commands taken as they come.
  resp::Limits capped = limits;
  capped.max_buffered_bytes = 1 + data[1] % 64;
  const Parsed tight = run(chunks, capped);
  FUZZ_CHECK(tight.max_after_feed <= capped.max_buffered_bytes);
  FUZZ_CHECK(tight.max_buffered <= 6 * capped.max_buffered_bytes);
  FUZZ_CHECK(tight.commands.size() <= whole.commands.size() &&
             std::equal(tight.commands.begin(), tight.commands.end(), whole.commands.begin()));
  if (tight.error == Code::kOk) {
    FUZZ_CHECK(whole.error == Code::kOk && tight.commands.size() == whole.commands.size());
  } else if (tight.error == Code::kProtocolError) {
    FUZZ_CHECK(tight.message == whole.message && tight.commands.size() == whole.commands.size());
  } else {
    FUZZ_CHECK(tight.error == Code::kTooLarge);
  }
  return 0;
}
