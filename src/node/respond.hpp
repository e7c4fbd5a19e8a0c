// How a request is answered, whichever door it came by (a framed connection,
// the RESP listener, a forwarded call): one callback, called once with the
// reply or with an ErrorReply.
#pragma once

#include <functional>

#include "net/messages.hpp"
#include "tally/status.hpp"

namespace tally {

using Respond = std::function<void(wire::Body)>;

inline void fail(const Respond& respond, const Status& status) {
  respond(wire::ErrorReply{status.code(), status.message()});
}

}  // namespace tally
