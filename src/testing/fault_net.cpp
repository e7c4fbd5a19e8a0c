#include "testing/fault_net.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "testing/cluster_harness.hpp"

namespace tally::clustertest {

namespace {

constexpr int kSlots = 64;
constexpr const char* kPrefix = "tallyfx";
// Rules carry this comment, so that `iptables -S` in a node's namespace
// shows whose they are.
constexpr const char* kComment = "tally-fault-suite";

std::string lock_path(int slot) { return "/tmp/tallyfx-" + std::to_string(slot) + ".lock"; }

// The lock of `slot`, taken without waiting; -1 when another run holds it.
int try_lock(int slot) {
  int fd = ::open(lock_path(slot).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Runs `script` with sh; kUnavailable with its output when it fails.
Status sh(const std::string& script, const std::string& what) {
  CommandResult r = run("(\n" + script + "\n)");  // every line's errors captured, not only the last's
  if (r.exit_code == 0) return Status::Ok();
  return Status::Unavailable(what + " failed (exit " + std::to_string(r.exit_code) + "): " + r.out);
}

// The interface names of `ip -o link show` ("9: tfx0v1@if8: <...>").
std::vector<std::string> link_names(const std::string& listed) {
  std::vector<std::string> names;
  std::istringstream lines(listed);
  std::string line;
  while (std::getline(lines, line)) {
    size_t a = line.find(": ");
    if (a == std::string::npos) continue;
    size_t b = line.find_first_of("@:", a + 2);
    names.push_back(line.substr(a + 2, b - a - 2));
  }
  return names;
}

// Removes what a run of `slot` made: its veth pairs (deleting one end
// deletes both, at once; a deleted namespace lets go of its end only later,
// in the background), its namespaces and its bridge. Only for a slot whose
// lock the caller holds.
void remove_slot(int slot) {
  const std::string base = kPrefix + std::to_string(slot);
  const std::string veth = "tfx" + std::to_string(slot) + "v";
  for (const auto& name : link_names(run("ip -o link show").out)) {
    if (name.rfind(veth, 0) == 0) run("ip link del " + name);
  }
  std::istringstream lines(run("ip netns list").out);
  std::string line;
  while (std::getline(lines, line)) {
    std::string name = line.substr(0, line.find(' '));
    if (name.rfind(base + "-n", 0) == 0) run("ip netns del " + name);
  }
  run("ip link del " + base + " 2>/dev/null");
}

// Removes what crashed runs left: every slot whose lock nobody holds.
void sweep_leftovers() {
  const std::string listed = run("ip netns list").out + run("ip -o link show").out;
  const std::regex name("(?:" + std::string(kPrefix) + "|tfx)([0-9]+)");
  std::set<int> slots;
  for (std::sregex_iterator it(listed.begin(), listed.end(), name), end; it != end; ++it) {
    slots.insert(std::stoi((*it)[1].str()));
  }
  for (int slot : slots) {
    int fd = try_lock(slot);
    if (fd < 0) continue;  // a live run's
    remove_slot(slot);
    ::close(fd);
  }
}

}  // namespace

Result<std::unique_ptr<FaultNet>> FaultNet::create(int nodes) {
  if (::geteuid() != 0) {
    return Status::Unavailable("network namespaces and iptables need root (CAP_NET_ADMIN); running as uid " +
                               std::to_string(::geteuid()));
  }
  if (run("command -v ip && command -v iptables-restore").exit_code != 0) {
    return Status::Unavailable("`ip` or `iptables-restore` is not installed (make deps installs iptables)");
  }
  sweep_leftovers();
  std::unique_ptr<FaultNet> net(new FaultNet());
  for (int slot = 0; slot < kSlots && net->lock_fd_ < 0; ++slot) {
    net->lock_fd_ = try_lock(slot);
    if (net->lock_fd_ >= 0) net->slot_ = slot;
  }
  if (net->lock_fd_ < 0) return Status::Unavailable("all " + std::to_string(kSlots) + " fault-network slots are in use");
  const std::string subnet = "10.77." + std::to_string(net->slot_) + ".";
  const std::string tag = std::to_string(net->slot_);
  net->bridge_ = kPrefix + tag;
  remove_slot(net->slot_);  // ours now: anything of it is a leftover
  // Can this process make a namespace and use iptables in it? (Root in a
  // container without CAP_NET_ADMIN cannot.)
  const std::string probe = net->bridge_ + "-n0";
  Status can = sh("ip netns add " + probe + " && ip netns exec " + probe + " iptables -w -S INPUT >/dev/null; rc=$?; ip netns del " +
                      probe + " 2>/dev/null; exit $rc",
                  "making a network namespace with iptables in it");
  if (!can.ok()) return can;

  std::string script = "set -e\nip link add " + net->bridge_ + " type bridge\nip addr add " + subnet +
                       "1/24 dev " + net->bridge_ + "\nip link set " + net->bridge_ + " up\n";
  for (int i = 0; i < nodes; ++i) {
    const std::string ns = net->bridge_ + "-n" + std::to_string(i + 1);
    const std::string outside = "tfx" + tag + "v" + std::to_string(i + 1);
    const std::string inside = "tfx" + tag + "p" + std::to_string(i + 1);
    const std::string addr = subnet + std::to_string(11 + i);
    script += "ip netns add " + ns + "\nip link add " + outside + " type veth peer name " + inside +
              "\nip link set " + inside + " netns " + ns + "\nip link set " + outside + " master " +
              net->bridge_ + " up\nip netns exec " + ns + " ip addr add " + addr + "/24 dev " + inside +
              "\nip netns exec " + ns + " ip link set " + inside + " up\nip netns exec " + ns +
              " ip link set lo up\n";
    net->namespaces_.push_back(ns);
    net->addresses_.push_back(addr);
  }
  Status made = sh(script, "setting up the fault network");
  // As root with the tools present, a failure here is a bug, not a machine
  // that cannot: the tests must fail, not skip.
  if (!made.ok()) return Status::Internal(made.message());  // the destructor removes what was made
  return net;
}

FaultNet::~FaultNet() { tear_down(); }

void FaultNet::tear_down() {
  if (lock_fd_ < 0) return;
  heal_all();  // exactly the rules we added, though the namespaces go next
  remove_slot(slot_);
  ::close(lock_fd_);
  lock_fd_ = -1;
}

Status FaultNet::run_inside(int node, const std::function<void()>& fn) const {
  // `ip netns add` keeps each namespace open as a file under /run/netns.
  const std::string path = "/run/netns/" + netns(node);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Internal("cannot open " + path + ": " + std::strerror(errno));
  Status entered = Status::Ok();
  // setns moves only the calling thread, so a thread of its own keeps this
  // process's other threads where they are.
  std::thread inside([&] {
    if (::setns(fd, CLONE_NEWNET) != 0) {
      entered = Status::Internal("cannot enter network namespace " + netns(node) + ": " + std::strerror(errno));
      return;
    }
    fn();
  });
  inside.join();
  ::close(fd);
  return entered;
}

Status FaultNet::apply(const std::vector<std::pair<int, int>>& pairs, bool add) {
  // One iptables-restore per namespace: the drop sits at the receiver.
  std::map<int, std::string> rules;
  for (auto [from, to] : pairs) {
    rules[to] += std::string(add ? "-I" : "-D") + " INPUT -s " + address(from) + "/32 -m comment --comment " +
                 kComment + " -j DROP\n";
  }
  std::string script;
  for (const auto& [to, lines] : rules) {
    script += "printf '*filter\\n" + std::regex_replace(lines, std::regex("\n"), "\\n") +
              "COMMIT\\n' | ip netns exec " + netns(to) + " iptables-restore -w --noflush || exit 1\n";
  }
  return script.empty() ? Status::Ok() : sh(script, add ? "adding drop rules" : "removing drop rules");
}

Status FaultNet::cut(int from, int to) {
  if (from == to || cuts_.count({from, to})) return Status::Ok();
  Status s = apply({{from, to}}, true);
  if (s.ok()) cuts_.insert({from, to});
  return s;
}

Status FaultNet::restore(int from, int to) {
  if (!cuts_.count({from, to})) return Status::Ok();
  Status s = apply({{from, to}}, false);
  if (s.ok()) cuts_.erase({from, to});
  return s;
}

Status FaultNet::partition(const std::vector<int>& a, const std::vector<int>& b) {
  std::vector<std::pair<int, int>> add;
  for (int x : a) {
    for (int y : b) {
      for (auto p : {std::pair{x, y}, std::pair{y, x}}) {
        if (p.first != p.second && !cuts_.count(p)) add.push_back(p);
      }
    }
  }
  Status s = apply(add, true);
  if (s.ok()) cuts_.insert(add.begin(), add.end());
  return s;
}

Status FaultNet::heal(const std::vector<int>& a, const std::vector<int>& b) {
  std::vector<std::pair<int, int>> del;
  for (int x : a) {
    for (int y : b) {
      for (auto p : {std::pair{x, y}, std::pair{y, x}}) {
        if (cuts_.count(p)) del.push_back(p);
      }
    }
  }
  Status s = apply(del, false);
  if (s.ok()) {
    for (auto p : del) cuts_.erase(p);
  }
  return s;
}

Status FaultNet::isolate(int node) {
  std::vector<int> others;
  for (int i = 0; i < size(); ++i) {
    if (i != node) others.push_back(i);
  }
  return partition({node}, others);
}

Status FaultNet::heal_all() {
  std::vector<std::pair<int, int>> del(cuts_.begin(), cuts_.end());
  Status s = apply(del, false);
  if (s.ok()) cuts_.clear();
  return s;
}

}  // namespace tally::clustertest
