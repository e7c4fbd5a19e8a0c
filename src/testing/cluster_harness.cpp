#include "testing/cluster_harness.hpp"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tally/client.hpp"

namespace tally::clustertest {

std::string build_dir() {
  const char* b = std::getenv("BUILD");
  return b && *b ? b : "build";
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

CommandResult run(const std::string& command_line) {
  CommandResult r;
  FILE* p = ::popen((command_line + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string secret_file() {
  // One secret for every cluster this process writes a config for, in a
  // folder removed at exit; TALLY_SECRET_FILE points the tally CLI at it.
  static TempDir dir;
  static const std::string path = [] {
    std::string p = dir.path + "/secret";
    {
      std::ofstream s(p);
      s << "a test cluster's secret, 32 bytes or more\n";
    }
    ::chmod(p.c_str(), 0600);
    ::setenv("TALLY_SECRET_FILE", p.c_str(), 1);
    return p;
  }();
  return path;
}

std::unique_ptr<Client> connect_client(const std::string& endpoints) {
  ClientOptions o;
  o.endpoints = {endpoints};
  o.secret_file = secret_file();
  auto c = Client::connect(o);
  if (!c.ok()) throw std::runtime_error(c.status().to_string());  // a bug in the test itself
  return std::move(*c);
}

std::string write_config(const std::string& dir, const std::vector<NodeSpec>& nodes,
                         const std::string& durability, const std::string& extra) {
  std::string path = dir + "/cluster.toml";
  // TOML allows a table once: the [cluster] line of `extra`, if any, takes
  // the secret_file key; otherwise a [cluster] table of its own comes first.
  std::string cluster_line = "[cluster]\nsecret_file = \"" + secret_file() + "\"\n";
  std::string more = extra;
  const std::string header = "[cluster]\n";
  auto at = more.find(header);
  std::ofstream out(path);
  if (at != std::string::npos) {
    more.replace(at, header.size(), cluster_line);
  } else {
    out << cluster_line << "\n";
  }
  out << "[storage]\ndurability = \"" << durability << "\"\n\n" << more << "\n";
  for (const auto& n : nodes) {
    out << "[[nodes]]\nid = \"" << n.id << "\"\nlisten = \"" << n.host << ":" << n.port
        << "\"\ndata_dir = \"" << n.id << "\"\n";
    if (n.resp_port) out << "resp_listen = \"" << n.host << ":" << n.resp_port << "\"\n";
    if (n.metrics_port) out << "metrics_listen = \"" << n.host << ":" << n.metrics_port << "\"\n";
    if (!n.zone.empty()) out << "zone = \"" << n.zone << "\"\n";
    out << "\n";
  }
  return path;
}

TallydProcess::TallydProcess(std::string config, std::string node_id, int port, std::string log_path,
                             std::string join)
    : config_(std::move(config)),
      node_id_(std::move(node_id)),
      log_path_(std::move(log_path)),
      join_(std::move(join)),
      port_(port) {}

TallydProcess::~TallydProcess() {
  if (running()) kill9();
}

Status TallydProcess::start() {
  std::string bin = build_dir() + "/tallyd";
  pid_ = ::fork();
  if (pid_ == 0) {
    FILE* log = std::fopen(log_path_.c_str(), "a");
    if (log) {
      ::dup2(fileno(log), 1);
      ::dup2(fileno(log), 2);
    }
    std::vector<std::string> args{bin, "--config", config_, "--node", node_id_};
    if (!join_.empty()) args.insert(args.end(), {"--join", join_});
    args.insert(args.end(), flags_.begin(), flags_.end());
    // `ip netns exec` enters the namespace and execs tallyd in its own place
    // (no fork), so pid_ stays tallyd's: start() checks that below.
    if (!netns_.empty()) args.insert(args.begin(), {"ip", "netns", "exec", netns_});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    std::_Exit(127);
  }
  ClientOptions o;
  o.endpoints = {endpoint()};
  o.connect_timeout_ms = 200;
  o.request_timeout_ms = 1000;
  auto client = Client::connect(o);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!running()) return Status::Unavailable("tallyd exited during start-up:\n" + log());
    if ((*client)->ping().ok()) {
      std::error_code ec;
      auto exe = std::filesystem::read_symlink("/proc/" + std::to_string(pid_) + "/exe", ec);
      if (ec || exe.filename() != "tallyd") {
        return Status::Internal("process " + std::to_string(pid_) + " answering on " + endpoint() +
                                " is not tallyd but " + exe.string());
      }
      return Status::Ok();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Status::Timeout("tallyd did not answer within 15 s:\n" + log());
}

void TallydProcess::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

void TallydProcess::pause() {
  if (pid_ > 0) ::kill(pid_, SIGSTOP);
}

void TallydProcess::resume() {
  if (pid_ > 0) ::kill(pid_, SIGCONT);
}

int TallydProcess::terminate(int timeout_ms) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int status;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

bool TallydProcess::running() {
  if (pid_ <= 0) return false;
  int status;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

uint64_t TallydProcess::rss_bytes() const {
  if (pid_ <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;  // "VmRSS:  1234 kB"
  }
  return 0;
}

std::string TallydProcess::log() const {
  std::ifstream in(log_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

LocalCluster::LocalCluster(const Options& options) {
  for (int i = 1; i <= options.nodes; ++i) {
    NodeSpec spec{"n" + std::to_string(i), free_port(), options.resp ? free_port() : 0};
    if (options.metrics) spec.metrics_port = free_port();
    specs.push_back(std::move(spec));
  }
  config = write_config(dir.path, specs, options.durability, options.extra);
  for (const auto& s : specs) {
    nodes.push_back(std::make_unique<TallydProcess>(config, s.id, s.port, dir.path + "/" + s.id + ".log"));
  }
}

Status LocalCluster::start() {
  for (auto& n : nodes) {
    Status s = n->start();
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

std::string LocalCluster::endpoints() const {
  std::string out;
  for (const auto& n : nodes) out += (out.empty() ? "" : ",") + n->endpoint();
  return out;
}

}  // namespace tally::clustertest
