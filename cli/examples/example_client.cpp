// A program that embeds tally: it includes <tally/client.hpp> and links the
// client library (libtallyclient.a) and nothing else of tally.
//
//   build/example_client 127.0.0.1:7401,127.0.0.1:7402
//
// It writes, reads and deletes a few keys with the synchronous Client, then
// keeps 100 requests in flight with the AsyncClient (callbacks and futures),
// and prints what it did. Exit code 0 when every step did what it should.
#include <tally/client.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>

namespace {

int failed(const char* step, const tally::Status& s) {
  std::fprintf(stderr, "example_client: %s: %s\n", step, s.to_string().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: example_client HOST:PORT[,HOST:PORT...]\n");
    return 2;
  }
  tally::ClientOptions options;
  options.endpoints = {argv[1]};

  // ---- synchronous ----
  auto client = tally::Client::connect(options);
  if (!client.ok()) return failed("connect", client.status());
  tally::Client& c = **client;

  auto ctx = c.put("example:greeting", "hello", {.w = 2});
  if (!ctx.ok()) return failed("put", ctx.status());
  auto got = c.get("example:greeting", {.r = 2});
  if (!got.ok()) return failed("get", got.status());
  if (got->values != std::vector<std::string>{"hello"}) return failed("get", tally::Status::Internal("wrong value"));
  // A put with the context of what was read supersedes it (no sibling).
  auto again = c.put("example:greeting", "hello again", {.context = got->context});
  if (!again.ok()) return failed("put with context", again.status());
  // A delete with the context of the version it removes supersedes it on
  // every replica, even one the put has not reached yet.
  if (auto s = c.del("example:greeting", {.context = *again}); !s.ok()) return failed("del", s);
  auto gone = c.get("example:greeting");
  if (!gone.ok()) return failed("get after del", gone.status());
  if (gone->found()) return failed("get after del", tally::Status::Internal("the key is still there"));
  std::printf("sync: put, get, put with context, del, get: ok\n");

  // ---- asynchronous ----
  auto async = tally::AsyncClient::connect(options);
  if (!async.ok()) return failed("connect async", async.status());
  tally::AsyncClient& a = **async;
  constexpr int kKeys = 100;
  std::mutex mu;
  std::condition_variable cv;
  int answered = 0;
  std::atomic<int> errors{0};
  for (int i = 0; i < kKeys; ++i) {
    // Callbacks run on the client's I/O thread: keep them short.
    a.put("example:" + std::to_string(i), "value " + std::to_string(i), {}, [&](tally::Result<std::string> r) {
      if (!r.ok()) ++errors;
      std::lock_guard<std::mutex> lock(mu);
      if (++answered == kKeys) cv.notify_one();
    });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return answered == kKeys; });
  }
  if (errors) return failed("async puts", tally::Status::Internal(std::to_string(errors.load()) + " failed"));
  // Futures, for code that prefers to wait where it likes.
  std::vector<std::future<tally::Result<tally::GetResult>>> reads;
  for (int i = 0; i < kKeys; ++i) reads.push_back(a.get("example:" + std::to_string(i)));
  for (int i = 0; i < kKeys; ++i) {
    auto r = reads[i].get();
    if (!r.ok()) return failed("async get", r.status());
    if (r->values != std::vector<std::string>{"value " + std::to_string(i)}) {
      return failed("async get", tally::Status::Internal("wrong value for example:" + std::to_string(i)));
    }
  }
  std::vector<std::future<tally::Status>> deletes;
  for (int i = 0; i < kKeys; ++i) deletes.push_back(a.del("example:" + std::to_string(i)));
  for (auto& d : deletes) {
    if (auto s = d.get(); !s.ok()) return failed("async del", s);
  }
  std::printf("async: %d puts (callbacks), %d gets and %d deletes (futures): ok\n", kKeys, kKeys, kKeys);
  return 0;
}
