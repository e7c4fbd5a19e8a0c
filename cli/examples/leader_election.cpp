// Leader election with tally's locks: a program that does a job only while
// it leads, and stamps what it writes with its term (the lock's fencing
// token), so that a leader that paused past its lease and woke up cannot be
// mistaken for the current one. It includes <tally/lock.hpp> and links the
// client library only.
//
//   tally keyspace create locks --mode linearizable      (once)
//   build/leader_election 127.0.0.1:7401 worker-1 &
//   build/leader_election 127.0.0.1:7401 worker-2 &     (waits; takes over
//                                                         when worker-1 dies)
//
// Each round: campaign (block until elected), then work while the Lock says
// it is held: write "<term> <id> <n>" to the key `example:leader-log` of the
// linearizable keyspace `locks`, fenced by the term. A leader that paused
// past its lease and woke up is refused there (kFenced) as soon as a newer
// leader has written, and steps down. When the lease is lost (on_lost), stop
// at once and campaign again. Runs until killed, or for N rounds of work
// with a third argument.
#include <tally/client.hpp>
#include <tally/lock.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: leader_election HOST:PORT[,HOST:PORT...] ID [ROUNDS]\n");
    return 2;
  }
  tally::ClientOptions options;
  options.endpoints = {argv[1]};
  const std::string id = argv[2];
  const long rounds = argc == 4 ? std::strtol(argv[3], nullptr, 10) : -1;
  auto client = tally::Client::connect(options);
  if (!client.ok()) {
    std::fprintf(stderr, "leader_election: %s\n", client.status().to_string().c_str());
    return 1;
  }
  tally::Client& c = **client;

  tally::LockOptions lo;
  lo.holder = id;
  lo.ttl_ms = 3000;
  long done = 0;
  while (rounds < 0 || done < rounds) {
    std::atomic<bool> lost{false};
    auto lock = tally::Lock::acquire(c, "example-leader", lo, std::chrono::hours(1),
                                     [&](const tally::Status&) { lost = true; });
    if (!lock.ok()) {
      std::fprintf(stderr, "leader_election: %s\n", lock.status().to_string().c_str());
      if (lock.status().code() == tally::Code::kInvalidArgument) return 1;  // e.g. no linearizable `locks`
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    const uint64_t term = (*lock)->token();
    std::printf("%s: elected, term %llu\n", id.c_str(), static_cast<unsigned long long>(term));
    std::fflush(stdout);
    while (!lost && (rounds < 0 || done < rounds)) {
      const std::string entry = std::to_string(term) + " " + id + " " + std::to_string(++done);
      tally::WriteOptions w;
      w.keyspace = "locks";
      w.fence_lock = "example-leader";
      w.fence_token = term;
      if (auto put = c.put("example:leader-log", entry, w); !put.ok()) {
        if (put.status().code() == tally::Code::kFenced) {
          std::printf("%s: a newer leader has written; stepping down\n", id.c_str());
          break;
        }
        std::fprintf(stderr, "leader_election: %s\n", put.status().to_string().c_str());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    if (lost) std::printf("%s: lost the lease of term %llu\n", id.c_str(), static_cast<unsigned long long>(term));
    std::fflush(stdout);
  }
  return 0;
}
