// The codec on the hot path: a put request with a 16-byte key and a 100-byte
// value, as a client sends it and a node decodes it (target: round trip < 1 µs).
#include <benchmark/benchmark.h>

#include "codec/record_codec.hpp"
#include "net/codec.hpp"
#include "quorum/dvv.hpp"

using namespace tally;

namespace {

wire::Message sample_put() {
  wire::PutRequest put;
  put.keyspace = "default";
  put.key = std::string(16, 'k');
  put.value = std::string(100, 'v');
  put.context = net::encode_context(quorum::VersionVector{{{1, 7}, {2, 3}, {3, 9}}});
  put.options.w = 2;
  put.options.timeout_ms = 500;
  return wire::Message{42, std::move(put)};
}

void BM_EncodePut(benchmark::State& state) {
  wire::Message m = sample_put();
  std::string out;
  for (auto _ : state) {
    out.clear();
    net::encode_frame(m, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * out.size()));
}
BENCHMARK(BM_EncodePut);

void BM_DecodePut(benchmark::State& state) {
  std::string payload = net::encode_payload(sample_put());
  for (auto _ : state) {
    auto m = net::decode_payload(payload);
    benchmark::DoNotOptimize(m);
  }
}
BENCHMARK(BM_DecodePut);

void BM_RoundTripPut(benchmark::State& state) {
  wire::Message m = sample_put();
  std::string frame;
  for (auto _ : state) {
    frame.clear();
    net::encode_frame(m, frame);
    auto back = net::decode_payload(std::string_view(frame).substr(4));
    benchmark::DoNotOptimize(back);
  }
}
BENCHMARK(BM_RoundTripPut);

void BM_RecordRoundTrip(benchmark::State& state) {
  quorum::DvvSet rec;
  rec.clock = quorum::VersionVector{{{1, 7}, {2, 3}, {3, 9}}};
  for (int i = 0; i < state.range(0); ++i) {
    rec.siblings.push_back(quorum::Sibling{{static_cast<quorum::ReplicaId>(i + 1), 3},
                                           {1767225600000ULL, 0, 1}, false, std::string(100, 'v')});
  }
  for (auto _ : state) {
    auto bytes = codec::encode_record(rec);
    auto back = codec::decode_record(bytes);
    benchmark::DoNotOptimize(back);
  }
}
BENCHMARK(BM_RecordRoundTrip)->Arg(1)->Arg(3);

}  // namespace
