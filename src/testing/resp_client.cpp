#include "testing/resp_client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "node/resp.hpp"

namespace tally::clustertest {

namespace {

using Clock = std::chrono::steady_clock;

int ms_left(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

// Parses one reply starting at `pos`: the reply and the position after it,
// nullopt when `in` does not hold all of it yet. Throws Status on bytes that
// are not RESP.
std::optional<RespReply> parse(const std::string& in, size_t& pos) {
  size_t eol = in.find("\r\n", pos);
  if (eol == std::string::npos) return std::nullopt;
  if (eol == pos) throw Status::ProtocolError("an empty reply line");
  const char type = in[pos];
  const std::string line = in.substr(pos + 1, eol - pos - 1);
  size_t next = eol + 2;
  RespReply r;
  auto number = [&] {
    try {
      return static_cast<int64_t>(std::stoll(line));
    } catch (...) {
      throw Status::ProtocolError("not a number: '" + line + "'");
    }
  };
  switch (type) {
    case '+':
      r.kind = RespReply::Kind::kSimple;
      r.text = line;
      break;
    case '-':
      r.kind = RespReply::Kind::kError;
      r.text = line;
      break;
    case ':':
      r.kind = RespReply::Kind::kInteger;
      r.integer = number();
      break;
    case '$': {
      int64_t n = number();
      if (n < 0) {
        r.kind = RespReply::Kind::kNil;
        break;
      }
      if (in.size() < next + static_cast<size_t>(n) + 2) return std::nullopt;
      r.kind = RespReply::Kind::kBulk;
      r.text = in.substr(next, static_cast<size_t>(n));
      next += static_cast<size_t>(n) + 2;
      break;
    }
    case '*': {
      int64_t n = number();
      if (n < 0) {
        r.kind = RespReply::Kind::kNil;
        break;
      }
      r.kind = RespReply::Kind::kArray;
      for (int64_t i = 0; i < n; ++i) {
        auto e = parse(in, next);
        if (!e) return std::nullopt;
        r.elements.push_back(std::move(*e));
      }
      break;
    }
    default:
      throw Status::ProtocolError(std::string("a reply starting with '") + type + "'");
  }
  pos = next;
  return r;
}

}  // namespace

RespClient::RespClient(std::string host, int port, std::chrono::milliseconds timeout)
    : host_(std::move(host)), port_(port), timeout_(timeout) {}

RespClient::~RespClient() { drop(); }

void RespClient::drop() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  in_.clear();
}

Status RespClient::connect_now(Clock::time_point deadline) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port_));
  if (::inet_pton(AF_INET, host_.c_str(), &a.sin_addr) != 1) {
    drop();
    return Status::InvalidArgument("not an IPv4 address: " + host_);
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const std::string who = host_ + ":" + std::to_string(port_);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS) {
    Status s = Status::Unavailable("cannot connect to " + who + ": " + std::strerror(errno));
    drop();
    return s;
  }
  pollfd p{fd_, POLLOUT, 0};
  if (::poll(&p, 1, ms_left(deadline)) <= 0) {
    drop();
    return Status::Timeout("no connection to " + who + " within " + std::to_string(timeout_.count()) + " ms");
  }
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    drop();
    return Status::Unavailable("cannot connect to " + who + ": " + std::strerror(err));
  }
  return Status::Ok();
}

Result<RespReply> RespClient::command(const std::vector<std::string>& args) {
  const auto deadline = Clock::now() + timeout_;
  if (fd_ < 0) {
    Status s = connect_now(deadline);
    if (!s.ok()) return s;
    if (!greeting_.empty()) {
      auto r = exchange(greeting_, deadline);
      if (!r.ok()) return r;
      if (r->is_error()) {
        drop();
        return Status::InvalidArgument("the node refused " + greeting_.front() + ": " + r->text);
      }
    }
  }
  return exchange(args, deadline);
}

Result<RespReply> RespClient::exchange(const std::vector<std::string>& args, Clock::time_point deadline) {
  const std::string who = host_ + ":" + std::to_string(port_);
  std::string out;
  resp::put_array_header(out, args.size());
  for (const auto& a : args) resp::put_bulk(out, a);
  size_t sent = 0;
  while (sent < out.size()) {
    ssize_t n = ::send(fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      pollfd p{fd_, POLLOUT, 0};
      if (::poll(&p, 1, ms_left(deadline)) > 0) continue;
      drop();
      return Status::Timeout("could not send to " + who + " within " + std::to_string(timeout_.count()) + " ms");
    }
    Status s = Status::Unavailable("lost the connection to " + who + ": " + std::strerror(errno));
    drop();
    return s;
  }
  for (;;) {
    size_t pos = 0;
    try {
      if (auto r = parse(in_, pos)) {
        in_.erase(0, pos);
        return std::move(*r);
      }
    } catch (const Status& bad) {
      drop();
      return bad;
    }
    pollfd p{fd_, POLLIN, 0};
    int ready = ::poll(&p, 1, ms_left(deadline));
    if (ready <= 0) {
      drop();
      return Status::Timeout("no reply from " + who + " within " + std::to_string(timeout_.count()) + " ms");
    }
    char buf[16384];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      in_.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      Status s = Status::Unavailable("lost the connection to " + who +
                                     (n == 0 ? std::string(": closed") : ": " + std::string(std::strerror(errno))));
      drop();
      return s;
    }
  }
}

}  // namespace tally::clustertest
