#include "client/connection.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "net/codec.hpp"

namespace tally::client {

namespace {
int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, INT32_MAX));
}
}  // namespace

Connection::Connection(Connection&& o) noexcept
    : fd_(o.fd_), peer_(std::move(o.peer_)), reader_(std::move(o.reader_)) {
  o.fd_ = -1;
}

Connection& Connection::operator=(Connection&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.fd_;
    peer_ = std::move(o.peer_);
    reader_ = std::move(o.reader_);
    o.fd_ = -1;
  }
  return *this;
}

Connection::~Connection() { close(); }

void Connection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  reader_ = net::FrameReader(256u * 1024 * 1024);
}

Result<Connection> Connection::open(const HostPort& addr, uint32_t timeout_ms) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  int rc = getaddrinfo(addr.host.c_str(), std::to_string(addr.port).c_str(), &hints, &res);
  if (rc != 0 || !res) {
    return Status::Unavailable("cannot resolve " + addr.to_string() + ": " + gai_strerror(rc));
  }
  std::string last = "no address";
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) continue;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
      last = std::strerror(errno);
      ::close(fd);
      continue;
    }
    pollfd p{fd, POLLOUT, 0};
    int n = ::poll(&p, 1, remaining_ms(deadline));
    int err = 0;
    socklen_t len = sizeof err;
    if (n <= 0) {
      last = n == 0 ? "timed out after " + std::to_string(timeout_ms) + " ms" : std::strerror(errno);
      ::close(fd);
      continue;
    }
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      last = std::strerror(err);
      ::close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    freeaddrinfo(res);
    Connection c;
    c.fd_ = fd;
    c.peer_ = addr.to_string();
    return c;
  }
  freeaddrinfo(res);
  return Status::Unavailable("cannot connect to " + addr.to_string() + ": " + last);
}

bool Connection::peer_closed() const {
  if (fd_ < 0) return true;
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLERR | POLLHUP)) return true;
  char c;
  ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

Status Connection::write_all(std::string_view bytes, Clock::time_point deadline, bool* wrote_any) {
  if (wrote_any) *wrote_any = false;
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<size_t>(n);
      if (wrote_any) *wrote_any = true;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_, POLLOUT, 0};
      int r = ::poll(&p, 1, remaining_ms(deadline));
      if (r == 0) return Status::Timeout("sending to " + peer_ + " timed out");
      if (r < 0 && errno != EINTR) return Status::IoError(std::string("poll: ") + std::strerror(errno));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return Status::Unavailable("lost connection to " + peer_ + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

Status Connection::send(const wire::Message& msg, Clock::time_point deadline, bool* wrote_any) {
  std::string frame;
  net::encode_frame(msg, frame);
  return write_all(frame, deadline, wrote_any);
}

Result<wire::Message> Connection::receive(Clock::time_point deadline) {
  std::string payload;
  char buf[64 * 1024];
  while (!reader_.next(payload)) {
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, remaining_ms(deadline));
    if (r == 0) return Status::Timeout("no reply from " + peer_ + " in time");
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::IoError(std::string("poll: ") + std::strerror(errno));
    }
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n == 0) return Status::Unavailable("connection to " + peer_ + " closed by the node");
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return Status::Unavailable("lost connection to " + peer_ + ": " + std::strerror(errno));
    }
    Status s = reader_.feed(std::string_view(buf, static_cast<size_t>(n)));
    if (!s.ok()) return s;
  }
  return net::decode_payload(payload, net::DecodeLimits{256u * 1024 * 1024, 10'000'000, 8});
}

}  // namespace tally::client
