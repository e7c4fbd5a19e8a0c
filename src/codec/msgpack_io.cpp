#include "codec/msgpack_io.hpp"

#include <algorithm>

namespace tally::codec {

std::string& pack_scratch() {
  thread_local std::string scratch;
  return scratch;
}

void fail(FieldName field, std::string_view expected) {
  throw DecodeError{std::string("field '") + field.base + field.suffix + "': expected " +
                    std::string(expected)};
}

std::vector<uint64_t> get_ids(const msgpack::object& o, FieldName field) {
  const auto& a = get_array(o, field, 0);
  std::vector<uint64_t> out;
  for (uint32_t i = 0; i < a.size; ++i) out.push_back(get_uint(a.ptr[i], field, UINT64_MAX));
  return out;
}

namespace {
// Bytes are referenced, not copied, while the object tree is walked; the
// strings are copied once into the decoded values.
bool reference_all(msgpack::type::object_type, std::size_t, void*) { return true; }
}  // namespace

msgpack::object unpack_one(msgpack::zone& zone, std::string_view bytes, const DecodeLimits& lim) {
  // Every element takes at least one byte, so no honest header claims more
  // elements than there are bytes: capping there keeps a 5-byte array header
  // from making msgpack allocate gigabytes up front.
  size_t elements = std::min<size_t>(lim.max_elements, bytes.size());
  msgpack::unpack_limit limit(elements, elements, lim.max_bytes, lim.max_bytes, /*ext=*/0, lim.max_depth);
  std::size_t off = 0;
  msgpack::object o =
      msgpack::unpack(zone, bytes.data(), bytes.size(), off, reference_all, nullptr, limit);
  if (off != bytes.size()) {
    throw DecodeError{std::to_string(bytes.size() - off) + " trailing bytes after the message"};
  }
  return o;
}

msgpack::zone& decode_zone() {
  thread_local msgpack::zone zone;
  return zone;
}

}  // namespace tally::codec
