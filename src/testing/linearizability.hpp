// A linearizability checker for histories of single-key registers with
// compare-and-set (linearizable keyspaces, docs/consistency.md "Checking
// linearizability"). Pure: it takes recorded operations and returns a verdict.
//
// The model. Every key is a register, initially absent, checked on its own
// (linearizability is compositional: a history is linearizable iff each
// key's sub-history is). Operations (history.hpp's Op):
//   - kRead: returns the value, or nothing when the key is absent;
//   - kWrite: a blind write of `value`;
//   - kCas: writes `value` if the key is absent (CasIf::kAbsent, SET NX),
//     holds `expected` (kValue) or holds anything (kPresent, SET XX). It
//     answers applied or not; "not applied, current X" is also a read of X at
//     the same instant.
// Outcomes:
//   - kOk: it took effect exactly once, at one instant between start_us and
//     end_us, and returned what was recorded;
//   - kFailed: it certainly did not take effect, and is ignored (record a
//     node's error as kFailed only when the node guarantees that, else as
//     kUnknown; see LinearizabilityOptions::failed_is_definite);
//   - kUnknown: the client gave up. It took effect at most once, at any instant
//     after start_us, possibly after the end of the history, and its result
//     is unconstrained. An unknown read constrains nothing and is ignored.
// Operations that touch in time (one's end equals the other's start) count as
// concurrent.
//
// The search is Wing and Gong's, with Lowe's memoisation: walk the
// operations' call and return events in time order, linearize any pending
// operation the model accepts, backtrack when an operation's return is
// reached before it was linearized, and never visit the same (set of
// linearized operations, register value) twice. Unknown operations are tried
// after the others and only when they change the value; a configuration
// that failed also rules out any configuration that differs from it only by
// more unknown operations linearized (those can always be left out), which
// keeps histories with many timed-out operations from blowing up the search.
// A step budget bounds the work per key: past it the verdict is "undecided".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "testing/history.hpp"

namespace tally::testing {

struct LinearizabilityOptions {
  // Search steps allowed per key before the key is reported undecided. A
  // step is one look at a pending operation (about 25 ns); a key of a few
  // thousand operations at a concurrency of about ten takes 130 to 720 per
  // operation (docs/benchmarks.md), so the default is some 0.3 s of search.
  uint64_t max_steps_per_key = 10'000'000;
  // false: a kFailed operation may have taken effect (it is judged as
  // kUnknown), for stores that cannot promise that an error means "not done".
  bool failed_is_definite = true;
  // How many operations of the furthest partial linearization a failure shows.
  size_t explain_tail = 8;
};

enum class Verdict {
  kLinearizable,
  kNotLinearizable,
  kUndecided,  // the step budget ran out
  kBadInput,   // an operation the model cannot express (see check_linearizable)
};

// The verdict on one key's operations.
struct KeyVerdict {
  std::string key;
  Verdict verdict = Verdict::kLinearizable;
  size_t ops = 0;      // operations searched (failed ones and unknown reads left out)
  uint64_t steps = 0;  // candidate operations tried
  // kNotLinearizable: the smallest prefix no order gets past, the furthest
  // partial linearization (its last operations, with the register's value
  // after each) and the pending operations that could not come next, each
  // with the reason. kUndecided: how far the search got. kBadInput: what is
  // wrong with which operation. kLinearizable: empty.
  std::string explanation;
};

// Checks one key's operations (kCreateKeyspace operations are ignored; the
// others must all be of one key).
KeyVerdict check_key_linearizable(const std::vector<Op>& ops,
                                  const LinearizabilityOptions& options = {});

// Checks every key of `ops`. The result's violations are of kind
// "not linearizable" (one per key, with its explanation), "undecided" (the
// search ran out of steps: not a proof either way, so not ok()) and
// "bad operation" (an operation the model cannot express: a read that
// returned several values, an end before its start). `judged` counts the
// reads, writes and CAS operations.
CheckResult check_linearizable(const std::vector<Op>& ops,
                               const LinearizabilityOptions& options = {});

}  // namespace tally::testing
