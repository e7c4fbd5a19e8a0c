#include "net/codec.hpp"

#include <array>
#include <concepts>
#include <functional>
#include <limits>
#include <memory>
#include <type_traits>
#include <utility>
#include <variant>

#include "codec/msgpack_io.hpp"
#include "codec/parts.hpp"
#include "net/frame.hpp"

namespace tally::net {

using namespace codec;

namespace {

// ---- one kind of field (net/wire_fields.hpp) -----------------------------------

// How each kind of field is packed and read: pack(p, value), and
// get(o, name, value) which fills `value` or throws a DecodeError naming the
// field.
template <class Kind>
struct Wire;

// An unsigned integer member (not a bool: that is as::Bool).
template <class T>
concept WireUnsigned = std::unsigned_integral<T> && !std::same_as<T, bool>;

template <>
struct Wire<wire::as::Str> {
  static void pack(Packer& p, const std::string& s) { pack_str(p, s); }
  static void get(const msgpack::object& o, FieldName name, std::string& s) { s = get_bytes(o, name); }
};
template <>
struct Wire<wire::as::Bin> {
  static void pack(Packer& p, const std::string& s) { pack_bin(p, s); }
  static void get(const msgpack::object& o, FieldName name, std::string& s) { s = get_bytes(o, name); }
};
template <>
struct Wire<wire::as::Bool> {
  static void pack(Packer& p, bool b) { p.pack(b); }
  static void get(const msgpack::object& o, FieldName name, bool& b) { b = get_bool(o, name); }
};
template <uint64_t Max>
struct Wire<wire::as::UIntMax<Max>> {
  template <WireUnsigned T>
  static void pack(Packer& p, T v) {
    static_assert(Max <= std::numeric_limits<T>::max(), "a maximum the field's type cannot hold");
    p.pack(v);
  }
  template <WireUnsigned T>
  static void get(const msgpack::object& o, FieldName name, T& v) {
    v = static_cast<T>(get_uint(o, name, Max));
  }
};
template <>
struct Wire<wire::as::UInt> {
  template <WireUnsigned T>
  static void pack(Packer& p, T v) {
    p.pack(v);
  }
  template <WireUnsigned T>
  static void get(const msgpack::object& o, FieldName name, T& v) {
    v = static_cast<T>(get_uint(o, name, std::numeric_limits<T>::max()));
  }
};
template <>
struct Wire<wire::as::Int> {
  static void pack(Packer& p, int64_t v) { p.pack(v); }
  static void get(const msgpack::object& o, FieldName name, int64_t& v) {
    if (o.type == msgpack::type::NEGATIVE_INTEGER) {
      v = o.via.i64;
    } else if (o.type == msgpack::type::POSITIVE_INTEGER) {
      v = static_cast<int64_t>(get_uint(o, name, std::numeric_limits<int64_t>::max()));
    } else {
      fail(name, "an integer");
    }
  }
};
template <uint64_t Max, uint64_t Min>
struct Wire<wire::as::Enum<Max, Min>> {
  static_assert(Min <= Max && Max <= 255, "an enum on the wire is one byte");
  template <class E>
    requires std::is_enum_v<E>
  static void pack(Packer& p, E e) {
    p.pack(static_cast<uint8_t>(e));
  }
  template <class E>
    requires std::is_enum_v<E>
  static void get(const msgpack::object& o, FieldName name, E& e) {
    uint64_t v = get_uint(o, name, Max);
    if (v < Min) fail(name, "an integer from " + std::to_string(Min) + " to " + std::to_string(Max));
    e = static_cast<E>(v);
  }
};
template <>
struct Wire<wire::as::StrPairs> {
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  static void pack(Packer& p, const Pairs& pairs) {
    p.pack_array(static_cast<uint32_t>(pairs.size()));
    for (const auto& [k, v] : pairs) {
      p.pack_array(2);
      pack_str(p, k);
      pack_str(p, v);
    }
  }
  static void get(const msgpack::object& o, FieldName name, Pairs& pairs) {
    const auto& a = get_array(o, name, 0);
    for (uint32_t i = 0; i < a.size; ++i) {
      const auto& kv = get_array(a.ptr[i], {name.base, "[]"}, 2);
      pairs.emplace_back(get_bytes(kv.ptr[0], {name.base, "[].name"}), get_bytes(kv.ptr[1], {name.base, "[].value"}));
    }
  }
};
template <>
struct Wire<wire::as::Ids> {
  static void pack(Packer& p, const std::vector<uint64_t>& ids) { pack_ids(p, ids); }
  static void get(const msgpack::object& o, FieldName name, std::vector<uint64_t>& ids) { ids = get_ids(o, name); }
};
// A format another codec owns (codec/parts.hpp), embedded as it is; it names
// its own fields in errors.
template <class T, void (*Pack)(Packer&, const T&), T (*Get)(const msgpack::object&)>
struct Embedded {
  static void pack(Packer& p, const T& value) { Pack(p, value); }
  static void get(const msgpack::object& o, FieldName, T& value) { value = Get(o); }
};
template <>
struct Wire<wire::as::Record> : Embedded<quorum::DvvSet, pack_record, get_record> {};
template <>
struct Wire<wire::as::ClusterMap> : Embedded<meta::ClusterMap, pack_cluster_map, get_cluster_map> {};
template <>
struct Wire<wire::as::RaftEntry> : Embedded<raft::Entry, pack_entry, get_entry> {};
template <>
struct Wire<wire::as::RaftSnapshot> {
  static void pack(Packer& p, const std::shared_ptr<const raft::Snapshot>& s) {
    if (s) {
      pack_snapshot(p, *s);
    } else {
      p.pack_nil();
    }
  }
  static void get(const msgpack::object& o, FieldName, std::shared_ptr<const raft::Snapshot>& s) {
    if (o.type != msgpack::type::NIL) s = std::make_shared<const raft::Snapshot>(get_snapshot(o));
  }
};

template <class Elem>
struct Wire<wire::as::List<Elem>> {
  template <class T>
  static void pack(Packer& p, const std::vector<T>& list) {
    p.pack_array(static_cast<uint32_t>(list.size()));
    for (const T& element : list) Wire<Elem>::pack(p, element);
  }
  template <class T>
  static void get(const msgpack::object& o, FieldName name, std::vector<T>& list) {
    const auto& a = get_array(o, name, 0);
    list.reserve(a.size);
    for (uint32_t i = 0; i < a.size; ++i) Wire<Elem>::get(a.ptr[i], {name.base, "[]"}, list.emplace_back());
  }
};

// ---- a whole description: a message's or a nested struct's fields ----------------

template <class T>
constexpr size_t kFieldCount = std::tuple_size_v<decltype(T::wire_fields())>;

// Whether each field is optional, in wire order.
template <class T>
consteval auto optional_flags() {
  return std::apply([](const auto&... f) { return std::array<bool, sizeof...(f)>{f.optional...}; },
                    T::wire_fields());
}

template <class T>
consteval bool optional_fields_last() {
  constexpr auto optional = optional_flags<T>();
  for (size_t i = 1; i < optional.size(); ++i) {
    if (optional[i - 1] && !optional[i]) return false;
  }
  return true;
}

// How many fields every sender sends: those before the first optional one.
template <class T>
consteval size_t required_fields() {
  static_assert(optional_fields_last<T>(), "wire_fields(): an optional field before a required one");
  constexpr auto optional = optional_flags<T>();
  size_t required = 0;
  while (required < optional.size() && !optional[required]) ++required;
  return required;
}

template <class T>
void pack_fields(Packer& p, const T& value) {
  std::apply(
      [&](const auto&... f) {
        (Wire<typename std::decay_t<decltype(f)>::kind>::pack(p, std::invoke(f.access, value)), ...);
      },
      T::wire_fields());
}

// Reads the `n` fields at `f` into `value`; the caller has checked that at
// least the required ones are there. Extra fields (from a newer sender) are
// ignored.
template <class T>
void get_fields(const msgpack::object* f, uint32_t n, T& value) {
  std::apply(
      [&](const auto&... field) {
        uint32_t i = 0;
        ((i < n ? Wire<typename std::decay_t<decltype(field)>::kind>::get(f[i], field.name,
                                                                         std::invoke(field.access, value))
                : void(),
          ++i),
         ...);
      },
      T::wire_fields());
}

template <>
struct Wire<wire::as::Fields> {
  template <class T>
  static void pack(Packer& p, const T& value) {
    p.pack_array(static_cast<uint32_t>(kFieldCount<T>));
    pack_fields(p, value);
  }
  template <class T>
  static void get(const msgpack::object& o, FieldName name, T& value) {
    const auto& a = get_array(o, name, required_fields<T>());
    get_fields(a.ptr, a.size, value);
  }
};

// ---- messages ------------------------------------------------------------------

template <class M>
wire::Body decode_message(const msgpack::object* f, uint32_t n) {
  constexpr size_t kRequired = required_fields<M>();
  if (n < kRequired) {
    throw DecodeError{std::string(M::kName) + " needs " + std::to_string(kRequired) + " fields, got " +
                      std::to_string(n)};
  }
  M m;
  get_fields(f, n, m);
  return m;
}

using BodyDecoder = wire::Body (*)(const msgpack::object*, uint32_t);

template <size_t... I>
constexpr std::array<BodyDecoder, sizeof...(I)> body_decoders(std::index_sequence<I...>) {
  return {&decode_message<std::variant_alternative_t<I, wire::Body>>...};
}

// Alternative i's decoder is at i (wire::alternative_of maps a type to it).
constexpr auto kBodyDecoders = body_decoders(std::make_index_sequence<wire::kMessageTypes>{});

wire::Body decode_body(uint64_t type, const msgpack::object* f, uint32_t n) {
  const int i = type <= 255 ? wire::alternative_of(static_cast<wire::MsgType>(type)) : -1;
  if (i < 0) throw DecodeError{"unknown message type " + std::to_string(type)};
  return kBodyDecoders[static_cast<size_t>(i)](f, n);
}

void pack_message(Packer& p, const wire::Message& msg) {
  std::visit(
      [&](const auto& m) {
        using M = std::decay_t<decltype(m)>;
        p.pack_array(static_cast<uint32_t>(3 + kFieldCount<M>));
        p.pack(wire::kProtocolVersion);
        p.pack(static_cast<uint8_t>(M::kType));
        p.pack(msg.request_id);
        pack_fields(p, m);
      },
      msg.body);
}

}  // namespace

void encode_frame(const wire::Message& msg, std::string& out) {
  size_t start = out.size();
  out.append(kFrameHeaderBytes, '\0');
  StringSink sink{&out};
  Packer p(sink);
  pack_message(p, msg);
  uint32_t len = static_cast<uint32_t>(out.size() - start - kFrameHeaderBytes);
  out[start] = static_cast<char>(len >> 24);
  out[start + 1] = static_cast<char>(len >> 16);
  out[start + 2] = static_cast<char>(len >> 8);
  out[start + 3] = static_cast<char>(len);
}

std::string encode_payload(const wire::Message& msg) {
  return packed([&](Packer& p) { pack_message(p, msg); });
}

Result<wire::Message> decode_payload(std::string_view payload, const DecodeLimits& limits) {
  return decode_guarded<wire::Message>(
      payload, limits, Code::kProtocolError, "malformed message",
      [](const msgpack::object& o) -> Result<wire::Message> {
        const auto& a = get_array(o, "message", 3);
        uint64_t version = get_uint(a.ptr[0], "version", 255);
        if (version != wire::kProtocolVersion) {
          return Status::ProtocolError("unsupported protocol version " + std::to_string(version) +
                                       " (this node speaks " +
                                       std::to_string(wire::kProtocolVersion) + ")");
        }
        uint64_t type = get_uint(a.ptr[1], "type", 255);
        wire::Message msg;
        msg.request_id = get_uint(a.ptr[2], "request_id", UINT64_MAX);
        msg.body = decode_body(type, a.ptr + 3, a.size - 3);
        return msg;
      });
}

// ---- contexts -------------------------------------------------------------------

std::string encode_context(const quorum::VersionVector& clock) {
  return packed([&](Packer& p) { pack_clock(p, clock); });
}

Result<quorum::VersionVector> decode_context(std::string_view bytes) {
  if (bytes.empty()) return quorum::VersionVector{};
  // A context comes from a user, who may have mangled it: an invalid argument.
  return decode_guarded<quorum::VersionVector>(
      bytes, DecodeLimits{1024, 1024, 2}, Code::kInvalidArgument,
      "bad context (pass the context a get returned, unchanged)",
      [](const msgpack::object& o) { return get_clock(o, "context"); });
}

}  // namespace tally::net
