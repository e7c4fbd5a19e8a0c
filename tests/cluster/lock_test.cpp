// Locks with leases on real tallyd processes: `tally lock` through its whole
// life (acquire, refuse a second holder, renew, release, a lease that runs
// out), the library's Lock that keeps its lease alive, RESP TALLY.LOCK; and
// leader election with `tally elect`: candidates whose leader is killed with
// -9 again and again, at most one leader per term, terms strictly
// increasing, a new leader within the lease plus a second of each kill.
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "tally/client.hpp"
#include "tally/lock.hpp"
#include "testing/cluster_harness.hpp"
#include "testing/wait.hpp"

using namespace tally;
using namespace tally::clustertest;
using namespace std::chrono_literals;

namespace {

struct LockCluster : LocalCluster {
  LockCluster() : LocalCluster({3, "buffered", "[request]\ntimeout_ms = 3000\n", /*resp=*/true}) {
    REQUIRE(start().ok());
    auto admin = connect_client(endpoints());
    auto made = admin->create_keyspace(KeyspaceSpec{"locks", 3, 0, 0, "linearizable"});
    INFO(made.status().to_string());
    REQUIRE(made.ok());
  }
  std::string tally() const { return build_dir() + "/tally -e " + endpoints() + " "; }
};

uint64_t number(const std::string& s) {
  try {
    return std::stoull(s);
  } catch (...) {
    return 0;
  }
}

}  // namespace

TEST_CASE("tally lock: one holder at a time, tokens that only grow, renew and release by token",
          "[cluster][lock]") {
  LockCluster c;
  const std::string t = c.tally();
  CommandResult first = run(t + "lock acquire job --ttl 10s --holder worker-a");
  INFO(first.out);
  REQUIRE(first.exit_code == 0);
  const uint64_t t1 = number(first.out);
  REQUIRE(t1 > 0);

  CommandResult second = run(t + "lock acquire job --ttl 10s --holder worker-b");
  CHECK(second.exit_code == 7);
  CHECK_THAT(second.out, Catch::Contains("is held by worker-a (token " + std::to_string(t1) + ")"));
  CHECK_THAT(run(t + "lock status job").out, Catch::StartsWith("held by worker-a, token " + std::to_string(t1)));

  CHECK(run(t + "lock renew job --token " + std::to_string(t1) + " --ttl 10s").out == "renewed\n");
  CommandResult wrong = run(t + "lock renew job --token " + std::to_string(t1 + 100));
  CHECK(wrong.exit_code == 7);
  CHECK_THAT(wrong.out, Catch::Contains("no longer held by token"));
  CHECK(run(t + "lock release job --token " + std::to_string(t1 + 100)).exit_code == 7);
  CHECK(run(t + "lock release job --token " + std::to_string(t1)).out == "released\n");
  CHECK(run(t + "lock status job").out == "free (last token " + std::to_string(t1) + ")\n");

  // A short lease frees the lock by itself; a waiter then takes it, higher token.
  CommandResult brief = run(t + "lock acquire job --ttl 300ms");
  REQUIRE(brief.exit_code == 0);
  const uint64_t t2 = number(brief.out);
  CHECK(t2 > t1);
  CommandResult waited = run(t + "lock acquire job --ttl 10s --wait 5s --json");
  INFO(waited.out);
  REQUIRE(waited.exit_code == 0);
  std::smatch m;
  REQUIRE(std::regex_search(waited.out, m, std::regex("\"token\":([0-9]+)")));
  CHECK(number(m[1]) > t2);
  // The old holding can neither renew nor release what is now someone else's.
  CHECK(run(t + "lock renew job --token " + std::to_string(t2)).exit_code == 7);

  // Clear errors: a keyspace that is not linearizable, a bad duration.
  CommandResult plain = run(t + "-k default lock acquire job");
  CHECK(plain.exit_code == 1);
  CHECK_THAT(plain.out, Catch::Contains("keyspace 'default' is not linearizable: locks need one"));
  CHECK(run(t + "lock acquire job --ttl soon").exit_code == 2);
  CommandResult missing = run(t + "-k nowhere lock status job");
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.out, Catch::Contains("tally keyspace create nowhere --mode linearizable"));

  // RESP, on the same locks.
  const std::string port = std::to_string(c.specs[2].resp_port);
  CommandResult resp = run("printf 'TALLY.KEYSPACE locks\\nTALLY.LOCK job 1000\\nTALLY.LOCK other 1000\\n' | redis-cli -p " +
                           port + " 2>&1");
  INFO(resp.out);
  std::istringstream lines(resp.out);
  std::string ok, held, fresh;
  std::getline(lines, ok);
  std::getline(lines, held);
  std::getline(lines, fresh);
  CHECK(ok == "OK");
  CHECK(held.empty());  // nil: job is held
  CHECK(number(fresh) > 0);
}

TEST_CASE("a Lock keeps its lease alive past many lease lengths and frees it when destroyed", "[cluster][lock]") {
  LockCluster c;
  auto client = connect_client(c.endpoints());
  LockOptions o;
  o.ttl_ms = 600;
  bool lost = false;
  auto lock = Lock::acquire(*client, "keeper", o, 0ms, [&](const Status&) { lost = true; });
  REQUIRE(lock.ok());
  const uint64_t token = (*lock)->token();
  std::this_thread::sleep_for(2s);  // what is measured here is the lease staying alive this long
  auto st = lock_status(*client, "keeper");
  REQUIRE(st.ok());
  CHECK(st->held);
  CHECK(st->token == token);
  CHECK((*lock)->held());
  CHECK_FALSE(lost);
  LockOptions other;
  other.ttl_ms = 1000;
  CHECK(lock_try_acquire(*client, "keeper", other).status().code() == Code::kLocked);
  lock->reset();  // releases
  st = lock_status(*client, "keeper");
  REQUIRE(st.ok());
  CHECK_FALSE(st->held);
  auto next = lock_try_acquire(*client, "keeper", other);
  REQUIRE(next.ok());
  CHECK(*next > token);
}

namespace {

// The pause scenario, `trials` times, on keyspace `keyspace`: A takes lock
// L and stops itself (SIGSTOP) as a GC pause or a slow disk would; B waits
// out A's lease, takes L with a higher token and writes key k fenced; A
// resumes and writes k with its old token. Returns how many times A was
// refused and B's value was what k read.
int pause_trials(LockCluster& c, const std::string& keyspace, int trials) {
  const std::string t = c.tally();
  const std::string script = "tok=$(" + t + "lock acquire L --ttl 300ms --holder A) || exit 9; echo \"A token $tok\"; "
                             "kill -STOP $$; " + t + "-k " + keyspace + " put k from-A --fence L:$tok; "
                             "echo \"A put exit $?\"";
  int refused = 0;
  for (int trial = 0; trial < trials; ++trial) {
    INFO(keyspace << " trial " << trial);
    BackgroundProcess a({"sh", "-c", script}, c.dir.path + "/a-" + keyspace + std::to_string(trial) + ".out");
    REQUIRE(a.start().ok());
    auto stopped = [&] {
      std::ifstream stat("/proc/" + std::to_string(a.pid()) + "/stat");
      std::string pid, comm, state;
      stat >> pid >> comm >> state;
      return state == "T";
    };
    REQUIRE(eventually([&] { return a.output().find("A token") != std::string::npos && stopped(); }, 10s));
    std::smatch m;
    const std::string a_out = a.output();
    REQUIRE(std::regex_search(a_out, m, std::regex("A token ([0-9]+)")));
    const uint64_t token_a = number(m[1]);

    // B waits out A's lease, takes the lock with a higher token and writes.
    CommandResult b = run(t + "lock acquire L --ttl 10s --wait 5s --holder B");
    REQUIRE(b.exit_code == 0);
    const uint64_t token_b = number(b.out);
    CHECK(token_b > token_a);
    const std::string b_value = "from-B-" + std::to_string(trial);
    CommandResult b_put = run(t + "-k " + keyspace + " put k " + b_value + " --fence L:" + std::to_string(token_b));
    INFO(b_put.out);
    REQUIRE(b_put.exit_code == 0);

    // A wakes up and writes with its old token: refused. B's value stays.
    a.resume();
    REQUIRE(a.wait(10000) == 0);
    const std::string a_after = a.output();
    INFO(a_after);
    const bool a_refused = a_after.find("A put exit 8") != std::string::npos &&
                           a_after.find("fenced off: lock 'L' token " + std::to_string(token_a)) != std::string::npos;
    CHECK(a_refused);
    CommandResult got = run(t + "--json -k " + keyspace + " get k");
    CHECK_THAT(got.out, Catch::Contains("\"values\":[\"" + b_value + "\"]"));
    refused += a_refused && got.out.find("\"values\":[\"" + b_value + "\"]") != std::string::npos ? 1 : 0;
    REQUIRE(run(t + "lock release L --token " + std::to_string(token_b)).exit_code == 0);
  }
  return refused;
}

}  // namespace

TEST_CASE("fencing: a holder paused past its lease cannot overwrite what the next holder wrote (20 of 20)",
          "[cluster][lock][fence]") {
  LockCluster c;
  auto admin = connect_client(c.endpoints());
  REQUIRE(admin->create_keyspace(KeyspaceSpec{"data", 3, 0, 0, "linearizable"}).ok());
  const int refused = pause_trials(c, "data", 20);
  CHECK(refused == 20);
  WARN("fencing, linearizable keyspace: " << refused << " of 20 paused ex-holders refused");

  // Every mode fences: in siblings and lww keyspaces each replica checks the
  // token and the merges drop a write a later holder's fence overtook.
  REQUIRE(admin->create_keyspace(KeyspaceSpec{"sib", 3, 2, 2, "siblings"}).ok());
  REQUIRE(admin->create_keyspace(KeyspaceSpec{"last", 3, 2, 2, "lww"}).ok());
  CHECK(pause_trials(c, "sib", 5) == 5);
  CHECK(pause_trials(c, "last", 5) == 5);

  // NAME:TOKEN must be whole.
  const std::string t = c.tally();
  CHECK(run(t + "-k data put k v --fence L").exit_code == 2);
  CHECK(run(t + "-k data put k v --fence L:0").exit_code == 2);
  // A delete cannot be fenced: refused, not done unfenced.
  WriteOptions fenced_del;
  fenced_del.keyspace = "data";
  fenced_del.fence_lock = "L";
  fenced_del.fence_token = 1;
  Status del = admin->del("k", fenced_del);
  CHECK(del.code() == Code::kInvalidArgument);
  CHECK_THAT(del.message(), Catch::Contains("del takes no fence"));
  CHECK(admin->get("k", ReadOptions{.keyspace = "data"})->found());
  // The refusals are counted.
  uint64_t counted = 0;
  for (const auto& n : c.nodes) counted += status_number(*admin, n->endpoint(), "fenced_writes_refused").value_or(0);
  CHECK(counted >= 30);
}

namespace {

// One line of `tally elect` output: "elected ID term T".
struct Elected {
  std::string id;
  uint64_t term = 0;
};

std::vector<Elected> elections(const std::string& out) {
  std::vector<Elected> all;
  std::regex re("elected (\\S+) term ([0-9]+)");
  for (std::sregex_iterator it(out.begin(), out.end(), re), end; it != end; ++it) {
    all.push_back({(*it)[1], std::stoull((*it)[2])});
  }
  return all;
}

}  // namespace

TEST_CASE("tally elect: the leader killed with -9 again and again; one leader per term, terms rise, a new leader "
          "within the lease plus a second",
          "[cluster][lock][election]") {
  LockCluster c;
  const bool long_run = std::getenv("TALLY_LONG") != nullptr;
  const int candidates = 5;
  const auto ttl = long_run ? 2s : 1s;
  const auto every = long_run ? 5s : 2500ms;
  const int kills = long_run ? 12 : 4;  // 12 x 5 s: a minute
  const std::string ttl_arg = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(ttl).count()) + "ms";

  std::map<std::string, std::unique_ptr<BackgroundProcess>> running;
  auto spawn = [&](const std::string& id) {
    auto p = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{build_dir() + "/tally", "--secret-file", secret_file(), "-e", c.endpoints(),
                                 "elect", "leader", "--id", id, "--ttl", ttl_arg},
        c.dir.path + "/elect-" + id + ".out");
    REQUIRE(p->start().ok());
    running[id] = std::move(p);
  };
  for (int i = 0; i < candidates; ++i) spawn("c" + std::to_string(i));
  BackgroundProcess observer({build_dir() + "/tally", "--secret-file", secret_file(), "-e", c.endpoints(), "elect",
                              "leader", "--observe", "--ttl", ttl_arg},
                             c.dir.path + "/observer.out");
  REQUIRE(observer.start().ok());

  auto client = connect_client(c.endpoints());
  auto leader = [&]() -> std::optional<LockState> {
    auto st = lock_status(*client, "leader");
    if (!st.ok() || !st->held) return std::nullopt;
    return *st;
  };
  REQUIRE(eventually([&] { return leader().has_value(); }, 10s));

  std::vector<double> takeover_ms;
  int restarts = 0;
  for (int k = 0; k < kills; ++k) {
    auto now = leader();
    REQUIRE(now);
    INFO("kill " << k << ": leader " << now->holder << " term " << now->token);
    REQUIRE(running.contains(now->holder));
    const auto killed_at = std::chrono::steady_clock::now();
    running[now->holder]->kill9();
    const uint64_t old_term = now->token;
    // A new leader: a higher term, held by another candidate.
    REQUIRE(eventually(
        [&] {
          auto l = leader();
          return l && l->token > old_term;
        },
        ttl + 5s, 5ms));
    takeover_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - killed_at).count());
    CHECK(takeover_ms.back() <= std::chrono::duration<double, std::milli>(ttl + 1s).count());
    spawn(now->holder + "r" + std::to_string(++restarts));  // the candidate comes back under a new name
    std::this_thread::sleep_for(every - std::min<std::chrono::steady_clock::duration>(
                                            every, std::chrono::steady_clock::now() - killed_at));
  }

  // Every `elected` line, from every candidate: one leader per term, and each
  // candidate saw its terms rise.
  std::map<uint64_t, std::string> by_term;
  size_t lines = 0;
  for (auto& [id, p] : running) {
    uint64_t last = 0;
    for (const Elected& e : elections(p->output())) {
      ++lines;
      CHECK(e.term > last);
      last = e.term;
      auto [it, fresh] = by_term.emplace(e.term, e.id);
      INFO("term " << e.term << ": " << it->second << " and " << e.id);
      CHECK((fresh || it->second == e.id));
    }
  }
  CHECK(by_term.size() >= static_cast<size_t>(kills) + 1);
  // The observer saw the leaders in rising terms.
  uint64_t seen = 0;
  const std::string watched = observer.output();
  std::regex re("leader (\\S+) term ([0-9]+)");
  for (std::sregex_iterator it(watched.begin(), watched.end(), re), end; it != end; ++it) {
    const uint64_t term = std::stoull((*it)[2]);
    CHECK(term >= seen);
    seen = term;
  }
  double worst = 0, sum = 0;
  for (double ms : takeover_ms) {
    worst = std::max(worst, ms);
    sum += ms;
  }
  WARN("election: " << kills << " kills, " << by_term.size() << " terms; new leader after a kill: mean "
                    << sum / takeover_ms.size() << " ms, worst " << worst << " ms (lease "
                    << std::chrono::duration_cast<std::chrono::milliseconds>(ttl).count() << " ms)");
}
