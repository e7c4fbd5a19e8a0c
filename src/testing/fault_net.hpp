// A network that fails the way an operator's does, for real tallyd processes
// on one machine: each node in its own network namespace, with its own
// address on a bridge in this process's namespace (where the test's clients
// stay), and partitions made by iptables rules inside the nodes' namespaces.
//
// Drops happen at the receiving node's INPUT chain, silently, as on a broken
// link: the sender sees no error, only silence, and its TCP retransmits until
// the link heals or its failure detector gives up. (`tc netem` is not in this
// kernel, so there is no delay or loss rate, only cuts.)
//
// Everything made carries the prefix "tallyfx" (namespaces "tallyfx<slot>-n<i>",
// bridge "tallyfx<slot>", veths "tfx<slot>v<i>"/"tfx<slot>p<i>") and a slot
// number held by a lock file (/tmp/tallyfx-<slot>.lock) for the FaultNet's
// life, so that runs at once use different subnets (10.77.<slot>.0/24) and a
// run removes only what an earlier, crashed run of some slot left behind.
// Rules are removed one by one, exactly as added; no chain is ever flushed.
//
// A test may also keep a namespace as a host for its clients (run_inside),
// so that they reach the nodes only over the bridge, as from another machine.
//
// Needs root (CAP_NET_ADMIN), `ip` and `iptables`; create() says which is
// missing, and tests skip on that.
#pragma once

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tally/status.hpp"

namespace tally::clustertest {

class FaultNet {
 public:
  // Namespaces for `nodes` nodes (0-based indexes below), wired to a fresh
  // bridge. Errors: kUnavailable when this machine or user cannot (not root,
  // no `ip` or iptables), kInternal when setting up failed all the same
  // (naming the command and its output).
  static Result<std::unique_ptr<FaultNet>> create(int nodes);
  ~FaultNet();  // removes every rule, namespace and link it made
  FaultNet(const FaultNet&) = delete;
  FaultNet& operator=(const FaultNet&) = delete;

  int size() const { return static_cast<int>(addresses_.size()); }
  const std::string& netns(int node) const { return namespaces_.at(node); }
  const std::string& address(int node) const { return addresses_.at(node); }

  // Runs `fn` on a thread of its own inside `node`'s namespace and waits for
  // it: the sockets it opens, and those of the threads it starts (a Client's
  // I/O thread, which outlives it), belong to that namespace. Errors:
  // kInternal when the namespace cannot be entered (fn is not run).
  Status run_inside(int node, const std::function<void()>& fn) const;

  // One way: packets from node `from` to node `to` are dropped (TCP both
  // ways then stalls on any connection whose data flows from -> to).
  // Cutting what is cut already does nothing.
  Status cut(int from, int to);
  // Undoes cut(from, to); nothing when it is not cut.
  Status restore(int from, int to);
  // Both ways between every node of `a` and every node of `b`.
  Status partition(const std::vector<int>& a, const std::vector<int>& b);
  Status heal(const std::vector<int>& a, const std::vector<int>& b);
  // `node` from every other node, both ways (clients still reach it).
  Status isolate(int node);
  // Every cut made and not yet restored.
  Status heal_all();
  const std::set<std::pair<int, int>>& cuts() const { return cuts_; }

 private:
  FaultNet() = default;
  // Adds (`add`) or deletes the drop rules for `pairs` (from, to), one
  // iptables-restore --noflush per namespace touched.
  Status apply(const std::vector<std::pair<int, int>>& pairs, bool add);
  void tear_down();

  int slot_ = -1;
  int lock_fd_ = -1;
  std::string bridge_;
  std::vector<std::string> namespaces_, addresses_;
  std::set<std::pair<int, int>> cuts_;
};

}  // namespace tally::clustertest
