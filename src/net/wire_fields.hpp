// How a wire message describes its fields. Each message struct in
// net/messages.hpp lists its fields once, in wire order, in a static
// `wire_fields()`; the codec (net/codec.cpp) packs, counts and decodes every
// message from that list and nothing else:
//
//   static constexpr auto wire_fields() {
//     return std::tuple{field<as::Str>("keyspace", &PutRequest::keyspace),
//                       field<as::Bin>("key", &PutRequest::key), ...};
//   }
//
// A field is a name (what decode errors call it), how it is written (a kind
// from `as`, below) and where it lives (a member pointer, or member_of() for
// a member of a member). A field marked optional may be missing at the end of
// a message from an older sender and is left at its default then; optional
// fields come after every required one. No msgpack here: the kinds are tags
// that the codec gives meaning to, and a kind that does not fit its member's
// type fails to compile there.
#pragma once

#include <cstdint>
#include <tuple>

namespace tally::wire {

// How a field is written on the wire (msgpack).
namespace as {
struct Str {};   // std::string as a str (names, messages)
struct Bin {};   // std::string as a bin (keys, values, contexts)
struct Bool {};  // bool
struct UInt {};  // an unsigned integer; decoding refuses values over its C++ type's maximum
struct Int {};   // an int64_t, negative or not
template <uint64_t Max>
struct UIntMax {};  // an unsigned integer of at most Max
template <uint64_t Max, uint64_t Min = 0>
struct Enum {};      // an enum, written as one unsigned byte from Min to Max
struct StrPairs {};  // std::vector<std::pair<std::string, std::string>>: an array of [str, str]
struct Ids {};       // std::vector<uint64_t>: an array of unsigned integers
struct Record {};    // quorum::DvvSet: the stored record's format (codec/record_codec.hpp)
struct ClusterMap {};    // meta::ClusterMap: the metadata snapshot's format (codec/meta_codec.hpp)
struct RaftEntry {};     // raft::Entry: a log entry (codec/raft_codec.hpp)
struct RaftSnapshot {};  // std::shared_ptr<const raft::Snapshot>: the snapshot, or nil for none
struct Fields {};        // a struct with a wire_fields() of its own: a nested array of them
template <class Elem>
struct List {};  // a std::vector: an array of elements, each written as Elem
}  // namespace as

template <class Kind, class Access>
struct Field {
  using kind = Kind;
  const char* name;
  Access access;  // a member pointer, or a member_of()
  bool optional;
};

template <class Kind, class Access>
constexpr Field<Kind, Access> field(const char* name, Access access) {
  return {name, access, false};
}
// Missing at the end of a message from an older sender: left at its default.
template <class Kind, class Access>
constexpr Field<Kind, Access> optional_field(const char* name, Access access) {
  return {name, access, true};
}

// A member of a member: member_of(&RaftMessage::msg, &raft::Message::term).
template <class Outer, class Inner>
struct MemberOf {
  Outer outer;
  Inner inner;
  template <class T>
  constexpr auto& operator()(T& object) const {
    return (object.*outer).*inner;
  }
};
template <class Outer, class Inner>
constexpr MemberOf<Outer, Inner> member_of(Outer outer, Inner inner) {
  return {outer, inner};
}

}  // namespace tally::wire
