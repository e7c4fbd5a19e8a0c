// The msgpack primitives every codec is written with: a packer that appends
// to a std::string, checked readers that name the field they read, and the
// one guarded decode that turns every way unpacking can fail into a Status.
//
// This is the only header that includes msgpack, and only codec .cpp files
// include it (src/codec/*.cpp and the wire codec, src/net/codec.cpp). Decoding
// never trusts its input: sizes are bounded by msgpack unpack limits
// (DecodeLimits), every field's type is checked, trailing bytes are an error,
// and the error names the field that was wrong.
#pragma once

#include <cstdint>
#include <msgpack.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "codec/limits.hpp"
#include "tally/status.hpp"

namespace tally::codec {

// msgpack's packer writes through any type with write(const char*, size_t).
struct StringSink {
  std::string* out;
  void write(const char* data, size_t n) { out->append(data, n); }
};
using Packer = msgpack::packer<StringSink>;

// The buffer every packed() packs into, one per thread.
std::string& pack_scratch();

// The bytes `fill` packs. Packed into the thread's buffer and copied out at
// their size: one allocation, where growing the result as it packs took three
// or four for a 200-byte record. `fill` packs; it must not call packed()
// itself (they would share the buffer).
template <class Fill>
std::string packed(Fill&& fill) {
  constexpr size_t kKeepBytes = 1 << 20;  // a snapshot's buffer is not kept
  std::string& scratch = pack_scratch();
  scratch.clear();
  StringSink sink{&scratch};
  Packer p(sink);
  fill(p);
  std::string out = scratch;
  if (scratch.capacity() > kKeepBytes) std::string().swap(scratch);
  return out;
}

inline void pack_str(Packer& p, const std::string& s) {
  p.pack_str(static_cast<uint32_t>(s.size()));
  p.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}
inline void pack_bin(Packer& p, const std::string& s) {
  p.pack_bin(static_cast<uint32_t>(s.size()));
  p.pack_bin_body(s.data(), static_cast<uint32_t>(s.size()));
}
inline void pack_ids(Packer& p, const std::vector<uint64_t>& ids) {
  p.pack_array(static_cast<uint32_t>(ids.size()));
  for (uint64_t id : ids) p.pack(id);
}

// ---- decoding ----------------------------------------------------------------

// Thrown by the readers below; decode_guarded turns it into a Status. It never
// leaves a codec.
struct DecodeError {
  std::string what;
};

// The name of the field being read, for errors: `base` followed by `suffix`
// ("values" "[]"), joined only when an error is reported.
struct FieldName {
  FieldName(const char* name) : base(name) {}  // NOLINT: implicit by design
  FieldName(const char* name, const char* after) : base(name), suffix(after) {}
  const char* base;
  const char* suffix = "";
};

// "field 'NAME': expected EXPECTED".
[[noreturn]] void fail(FieldName field, std::string_view expected);

inline uint64_t get_uint(const msgpack::object& o, FieldName field, uint64_t max) {
  if (o.type != msgpack::type::POSITIVE_INTEGER) fail(field, "an unsigned integer");
  if (o.via.u64 > max) fail(field, "an integer at most " + std::to_string(max));
  return o.via.u64;
}
inline bool get_bool(const msgpack::object& o, FieldName field) {
  if (o.type != msgpack::type::BOOLEAN) fail(field, "a boolean");
  return o.via.boolean;
}
// Strings and binaries are accepted interchangeably: clients in other
// languages do not always distinguish them.
inline std::string get_bytes(const msgpack::object& o, FieldName field) {
  if (o.type == msgpack::type::STR) return std::string(o.via.str.ptr, o.via.str.size);
  if (o.type == msgpack::type::BIN) return std::string(o.via.bin.ptr, o.via.bin.size);
  fail(field, "a string");
}
inline const msgpack::object_array& get_array(const msgpack::object& o, FieldName field,
                                              uint32_t min_size) {
  if (o.type != msgpack::type::ARRAY) fail(field, "an array");
  if (o.via.array.size < min_size) {
    fail(field, "an array of at least " + std::to_string(min_size) + " elements");
  }
  return o.via.array;
}
std::vector<uint64_t> get_ids(const msgpack::object& o, FieldName field);

// Unpacks exactly one object from `bytes` within `limits` into `zone`.
msgpack::object unpack_one(msgpack::zone& zone, std::string_view bytes, const DecodeLimits& limits);

// The zone decode_guarded unpacks into, one per thread, emptied after each
// decode: its first chunk is reused instead of allocated and freed for every
// message (the results own their bytes; nothing points into the zone once a
// decode returns).
msgpack::zone& decode_zone();

// Unpacks `bytes` within `limits` and runs `body` on the object, turning every
// way decoding can fail into one Status: `code`, and a message that starts
// with `prefix` and says what was wrong. The one place that catches.
template <class T, class Fn>
Result<T> decode_guarded(std::string_view bytes, const DecodeLimits& limits, Code code,
                         std::string_view prefix, Fn body) {
  auto failed = [&](std::string_view what) {
    return Status(code, std::string(prefix) + ": " + std::string(what));
  };
  msgpack::zone& zone = decode_zone();
  struct Emptied {
    msgpack::zone& zone;
    ~Emptied() { zone.clear(); }
  } emptied{zone};
  try {
    msgpack::object o = unpack_one(zone, bytes, limits);
    return body(o);
  } catch (const DecodeError& e) {
    return failed(e.what);
  } catch (const msgpack::unpack_error& e) {
    return failed(std::string("msgpack: ") + e.what());
  } catch (const std::bad_alloc&) {
    return failed("too large to decode");
  }
}

// Stored bytes (records, Raft state, metadata): any failure is corruption of
// "stored <what>".
template <class T, class Fn>
Result<T> decode_stored(std::string_view bytes, const char* what, Fn body) {
  return decode_guarded<T>(bytes, kStoredLimits, Code::kCorruption,
                           std::string("stored ") + what + " does not decode", body);
}

}  // namespace tally::codec
