// The metrics door on real tallyd processes (docs/operations.md, "Metrics"):
// Debian's Prometheus scrapes every node and sees a counter move after some
// puts; promtool finds every node's exposition clean; and clients that send
// garbage, hold requests half-sent or open many connections get clear
// answers while the node keeps serving.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tally/client.hpp"
#include "testing/cluster_harness.hpp"
#include "testing/wait.hpp"

using namespace tally;
using namespace tally::clustertest;
using namespace std::chrono_literals;

namespace {

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

// A blocking loopback connection with a deadline on every read.
class HttpConn {
 public:
  explicit HttpConn(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~HttpConn() { ::close(fd_); }
  HttpConn(const HttpConn&) = delete;
  HttpConn& operator=(const HttpConn&) = delete;

  bool connected() const { return connected_; }
  bool send(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  // The next whole reply (Content-Length framed; `head`: the answer to a
  // HEAD, without its body); nullopt at a close or the deadline.
  std::optional<HttpReply> reply(bool head = false, std::chrono::milliseconds within = 5000ms) {
    auto deadline = std::chrono::steady_clock::now() + within;
    for (;;) {
      if (auto r = take(head)) return r;
      if (!fill(deadline)) return std::nullopt;
    }
  }
  // True once the node closed the connection (EOF or reset) within the deadline.
  bool closed(std::chrono::milliseconds within = 5000ms) {
    auto deadline = std::chrono::steady_clock::now() + within;
    while (fill(deadline)) {
    }
    return eof_;
  }

 private:
  // Reads what arrives before the deadline; false at EOF or the deadline.
  bool fill(std::chrono::steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || eof_) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    in_.append(buf, static_cast<size_t>(n));
    return true;
  }
  std::optional<HttpReply> take(bool head) {
    size_t end = in_.find("\r\n\r\n");
    if (end == std::string::npos) return std::nullopt;
    HttpReply r;
    r.status = std::atoi(in_.c_str() + 9);  // "HTTP/1.1 200 OK"
    size_t at = in_.find("\r\n") + 2;
    while (at < end) {
      size_t eol = in_.find("\r\n", at);
      std::string line = in_.substr(at, eol - at);
      size_t colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = line.substr(colon + 2);
      at = eol + 2;
    }
    size_t length = head ? 0 : std::stoul(r.headers.at("content-length"));
    if (in_.size() < end + 4 + length) return std::nullopt;
    r.body = in_.substr(end + 4, length);
    in_.erase(0, end + 4 + length);
    return r;
  }

  int fd_;
  bool connected_ = false;
  bool eof_ = false;
  std::string in_;
};

std::string request(const std::string& method, const std::string& target,
                    const std::string& extra = "") {
  return method + " " + target + " HTTP/1.1\r\nHost: test\r\n" + extra + "\r\n";
}

std::optional<HttpReply> get(int port, const std::string& target) {
  HttpConn c(port);
  if (!c.connected() || !c.send(request("GET", target, "Connection: close\r\n")))
    return std::nullopt;
  return c.reply();
}

// A sample's value in an exposition ("tally_requests_total 12"); nullopt when absent.
std::optional<double> sample(const std::string& text, const std::string& series) {
  size_t at = 0;
  while ((at = text.find(series + " ", at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n')
      return std::strtod(text.c_str() + at + series.size() + 1, nullptr);
    at += series.size();
  }
  return std::nullopt;
}

std::string url_encode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '_' || c == '-' || c == '.') {
      out += static_cast<char>(c);
    } else {
      char b[4];
      std::snprintf(b, sizeof b, "%%%02X", c);
      out += b;
    }
  }
  return out;
}

// Debian's prometheus on loopback, scraping `targets` every second, its
// storage in a fresh folder; stopped when this goes away.
class Prometheus {
 public:
  Prometheus(const std::string& dir, const std::vector<std::string>& targets) : port_(free_port()) {
    const std::string config = dir + "/prometheus.yml";
    std::ofstream out(config);
    out << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: "
           "tally\n"
        << "    static_configs:\n      - targets: [";
    for (size_t i = 0; i < targets.size(); ++i) out << (i ? ", " : "") << "'" << targets[i] << "'";
    out << "]\n";
    out.close();
    const std::string log = dir + "/prometheus.log";
    const std::string listen = "--web.listen-address=127.0.0.1:" + std::to_string(port_);
    const std::string storage = "--storage.tsdb.path=" + dir + "/tsdb";
    const std::string config_flag = "--config.file=" + config;
    pid_ = ::fork();
    if (pid_ == 0) {
      FILE* f = std::freopen(log.c_str(), "w", stdout);
      if (f) ::dup2(::fileno(stdout), 2);
      ::execlp("prometheus", "prometheus", config_flag.c_str(), storage.c_str(), listen.c_str(),
               "--log.level=warn", static_cast<char*>(nullptr));
      std::_Exit(127);
    }
  }
  ~Prometheus() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  Prometheus(const Prometheus&) = delete;
  Prometheus& operator=(const Prometheus&) = delete;

  // The values of an instant query's result vector, through the HTTP API.
  std::vector<double> query(const std::string& promql) const {
    std::vector<double> values;
    auto r = get(port_, "/api/v1/query?query=" + url_encode(promql));
    if (!r || r->status != 200 || r->body.find("\"status\":\"success\"") == std::string::npos)
      return values;
    // Each result ends in "value":[<time>,"<value>"].
    size_t at = 0;
    while ((at = r->body.find("\"value\":[", at)) != std::string::npos) {
      size_t quote = r->body.find('"', r->body.find(',', at));
      values.push_back(std::strtod(r->body.c_str() + quote + 1, nullptr));
      at = quote;
    }
    return values;
  }
  // Whether Prometheus parses and runs `promql` (status "success"); else its error.
  std::string run_error(const std::string& promql) const {
    auto r = get(port_, "/api/v1/query?query=" + url_encode(promql));
    if (!r) return "no answer";
    return r->body.find("\"status\":\"success\"") != std::string::npos ? "" : r->body;
  }
  pid_t pid() const { return pid_; }

 private:
  int port_;
  pid_t pid_ = -1;
};

// The "expr" strings of a Grafana dashboard file, JSON escapes undone.
std::vector<std::string> dashboard_queries(const std::string& path) {
  std::ifstream in(path);
  const std::string json((std::istreambuf_iterator<char>(in)), {});
  std::vector<std::string> out;
  const std::string key = "\"expr\": \"";
  for (size_t at = json.find(key); at != std::string::npos; at = json.find(key, at)) {
    std::string q;
    for (at += key.size(); at < json.size() && json[at] != '"'; ++at) {
      if (json[at] == '\\') ++at;
      q += json[at];
    }
    out.push_back(q);
  }
  return out;
}

double sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

}  // namespace

TEST_CASE(
    "metrics: Prometheus scrapes every node and sees puts counted; promtool finds each node's text "
    "clean",
    "[metrics]") {
  REQUIRE(run("command -v prometheus && command -v promtool").exit_code ==
          0);  // make deps installs them
  LocalCluster c({.nodes = 3, .durability = "buffered", .metrics = true});
  REQUIRE(c.start().ok());

  std::vector<std::string> targets;
  for (const auto& s : c.specs) targets.push_back("127.0.0.1:" + std::to_string(s.metrics_port));
  Prometheus prom(c.dir.path, targets);

  // Every node's exposition, as promtool's linter sees it.
  for (const auto& s : c.specs) {
    auto r = get(s.metrics_port, "/metrics");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8");
    const std::string file = c.dir.path + "/" + s.id + ".metrics";
    std::ofstream(file) << r->body;
    auto lint = run("promtool check metrics < " + file);
    INFO(s.id << ": " << lint.out);
    CHECK(lint.exit_code == 0);
    CHECK(lint.out.empty());
  }

  // Prometheus has scraped all three.
  const bool scraped =
      eventually([&] { return sum(prom.query("up{job=\"tally\"}")) == 3; }, 15000ms, 200ms);
  if (!scraped) FAIL_CHECK("prometheus log: " << run("cat " + c.dir.path + "/prometheus.log").out);
  REQUIRE(scraped);
  const double before = sum(prom.query("sum(tally_requests_total)"));

  auto client = connect_client(c.endpoints());
  constexpr int kPuts = 30;
  for (int i = 0; i < kPuts; ++i)
    REQUIRE(client->put("metrics-" + std::to_string(i), "v", {.w = 2}).ok());

  // The counters moved, as Prometheus has them after its next scrapes.
  CHECK(eventually(
      [&] {
        return sum(prom.query("sum(tally_client_requests_total{op=\"put\",outcome=\"ok\"})")) >=
                   kPuts &&
               sum(prom.query("sum(tally_requests_total)")) >= before + kPuts;
      },
      10000ms, 200ms));
  // And the histogram answers the documented p99 query.
  // And the histogram answers the documented p99 query (once two scrapes hold it: rate needs two).
  CHECK(eventually(
      [&] {
        return !prom.query(
                        "histogram_quantile(0.99, sum by (op, le) "
                        "(rate(tally_client_request_duration_seconds_bucket{op=\"put\"}[1m])))")
                    .empty();
      },
      5000ms, 200ms));

  // Every panel of the shipped Grafana dashboard is a query Prometheus runs.
  const auto queries = dashboard_queries("conf/grafana-dashboard.json");
  CHECK(queries.size() >= 10);
  for (auto q : queries) {
    for (size_t at; (at = q.find("$job")) != std::string::npos;) q.replace(at, 4, "tally");
    INFO(q);
    CHECK(prom.run_error(q) == "");
  }
}

TEST_CASE("metrics: the HTTP door answers keep-alive, pipelined and refused requests as documented",
          "[metrics]") {
  LocalCluster c({.nodes = 1, .durability = "buffered", .metrics = true});
  REQUIRE(c.start().ok());
  const int port = c.specs[0].metrics_port;

  SECTION("keep-alive and pipelining: answers in order on one connection") {
    HttpConn conn(port);
    REQUIRE(conn.send(request("GET", "/metrics")));
    auto first = conn.reply();
    REQUIRE(first);
    CHECK(first->status == 200);
    CHECK(sample(first->body, "tally_metrics_scrapes_total").has_value());
    // Two more in one write: a scrape, then another page.
    REQUIRE(conn.send(request("GET", "/metrics") + request("HEAD", "/other")));
    auto second = conn.reply();
    auto third = conn.reply(/*head=*/true);
    REQUIRE(second);
    REQUIRE(third);
    CHECK(second->status == 200);
    CHECK(*sample(second->body, "tally_metrics_scrapes_total") >
          *sample(first->body, "tally_metrics_scrapes_total"));
    CHECK(third->status == 404);
    CHECK(third->headers["content-length"] != "0");  // the length a GET would have had
    // Connection: close is honoured.
    REQUIRE(conn.send(request("GET", "/metrics", "Connection: close\r\n")));
    CHECK(conn.reply());
    CHECK(conn.closed());
  }

  SECTION("refused requests: status, reason, and the connection closed") {
    struct Case {
      std::string bytes;
      int status;
      std::string says;
    };
    const std::vector<Case> cases{
        {request("DELETE", "/metrics"), 405, "not allowed"},
        {"get /metrics HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bad method"},
        {"GET /metrics HTTP/1.1\n\n", 400, "bare LF"},
        {"GET /" + std::string(10000, 'a') + " HTTP/1.1\r\n", 414, "request line"},
        {request("GET", "/metrics",
                 [] {
                   std::string h;
                   for (int i = 0; i < 100; ++i) h += "X-" + std::to_string(i) + ": v\r\n";
                   return h;
                 }()),
         431, "header fields"},
        {request("POST", "/metrics", "Content-Length: 4\r\n") + "data", 413, "bodies"},
        {"GET /metrics HTTP/2.0\r\nHost: a\r\n\r\n", 505, "not supported"},
    };
    for (const auto& k : cases) {
      INFO(k.bytes.substr(0, 60));
      HttpConn conn(port);
      REQUIRE(conn.send(k.bytes));
      auto r = conn.reply();
      REQUIRE(r);
      CHECK(r->status == k.status);
      CHECK(r->body.find(k.says) != std::string::npos);
      if (k.status != 405) {
        CHECK(r->headers["connection"] == "close");
        CHECK(conn.closed());
      } else {
        CHECK(r->headers["allow"] == "GET, HEAD");
      }
    }
    auto m = get(port, "/metrics");
    REQUIRE(m);
    CHECK(*sample(m->body, "tally_http_refused_total") >= static_cast<double>(cases.size()));
  }
}

TEST_CASE("metrics: slow, garbage and crowding HTTP clients do not hurt the node", "[metrics]") {
  LocalCluster c({.nodes = 1, .durability = "buffered", .metrics = true});
  REQUIRE(c.start().ok());
  const int port = c.specs[0].metrics_port;
  auto client = connect_client(c.endpoints());

  // A client that sends half a request and waits.
  HttpConn slow(port);
  REQUIRE(slow.send("GET /metrics HTTP/1.1\r\nHo"));
  // A client that sends a megabyte of binary garbage.
  auto garbage = std::make_unique<HttpConn>(port);
  std::string junk(1 << 20, '\0');
  for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<char>((i * 7919) >> 3);
  garbage->send(junk);  // the node may close before it has all of it
  // And many that connect and say nothing.
  std::vector<std::unique_ptr<HttpConn>> crowd;
  for (int i = 0; i < 200; ++i) crowd.push_back(std::make_unique<HttpConn>(port));

  // The garbage is answered 4xx and cut off.
  auto refused = garbage->reply();
  REQUIRE(refused);
  CHECK(refused->status >= 400);
  CHECK(refused->status < 500);
  CHECK(garbage->closed());
  garbage.reset();

  // Meanwhile scrapes and puts go on.
  CHECK(eventually([&] {
    auto r = get(port, "/metrics");
    return r && r->status == 200 &&
           sample(r->body, "tally_connections{door=\"metrics\"}").value_or(0) >= 200;
  }));
  REQUIRE(client->put("still-serving", "yes", {.w = 1}).ok());

  // The slow client finishes its request, split over time, and is answered.
  REQUIRE(slow.send("st: a\r\n\r\n"));
  auto late = slow.reply();
  REQUIRE(late);
  CHECK(late->status == 200);

  // The crowd leaves; the node forgets it (the slow client and the scrape remain).
  crowd.clear();
  CHECK(eventually([&] {
    auto r = get(port, "/metrics");
    return r && sample(r->body, "tally_connections{door=\"metrics\"}").value_or(1000) <= 2;
  }));
  auto got = client->get("still-serving", {.r = 1});
  REQUIRE(got.ok());
}
