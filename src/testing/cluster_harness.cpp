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
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <unordered_set>

#include "tally/client.hpp"
#include "testing/wait.hpp"

namespace tally::clustertest {

std::string build_dir() {
  const char* b = std::getenv("BUILD");
  return b && *b ? b : "build";
}

namespace {

// Whether a listener could bind 127.0.0.1:port now.
bool can_bind(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

int free_port() {
  // Picked below the kernel's ephemeral range (32768 and up by default), not
  // by binding port 0: the kernel hands out ports from that range to every
  // outgoing connection too, of this process and of the other test process
  // tests/run.sh runs beside it, and one of them could take the port between
  // this pick and the node's bind. Random, so the two processes rarely try
  // the same ports, and never the same one twice here while it may not be
  // bound yet.
  static std::mutex mu;
  static std::mt19937 rng(std::random_device{}() ^ static_cast<unsigned>(::getpid()));
  static std::unordered_set<int> handed_out;
  std::lock_guard<std::mutex> lock(mu);
  if (handed_out.size() > 15000) handed_out.clear();
  std::uniform_int_distribution<int> pick(10000, 32000);
  for (int tries = 0; tries < 10000; ++tries) {
    const int port = pick(rng);
    if (handed_out.count(port) || !can_bind(port)) continue;
    handed_out.insert(port);
    return port;
  }
  throw std::runtime_error("free_port: no free loopback port between 10000 and 32000");
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

std::optional<uint64_t> status_number(Client& client, const std::string& endpoint, const std::string& name) {
  auto st = client.status(endpoint);
  if (!st.ok()) return std::nullopt;
  const std::string v = st->field(name);
  if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return std::stoull(v);
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

namespace {

// Process control shared by TallydProcess and BackgroundProcess; `pid` is -1
// once the process is reaped.
void kill_and_reap(pid_t& pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGKILL);
  int status;
  ::waitpid(pid, &status, 0);
  pid = -1;
}

void send_signal(pid_t pid, int sig) {
  if (pid > 0) ::kill(pid, sig);
}

bool still_running(pid_t& pid) {
  if (pid <= 0) return false;
  int status;
  if (::waitpid(pid, &status, WNOHANG) == pid) {
    pid = -1;
    return false;
  }
  return true;
}

// Waits up to `timeout_ms` for it to exit: its exit code (128 + the signal
// that ended it), -1 on timeout.
int wait_exit(pid_t& pid, int timeout_ms) {
  if (pid <= 0) return -1;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    int status;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      pid = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

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

Status TallydProcess::wait_serving(std::chrono::milliseconds within) {
  auto client = connect_client(endpoint());
  std::string last = "no answer to status";
  const bool serving = eventually(
      [&] {
        auto st = client->status();
        if (!st.ok()) {
          last = st.status().to_string();
          return false;
        }
        last = st->field("serving");
        return last == "yes";
      },
      within);
  if (serving) return Status::Ok();
  return Status::Timeout("tallyd at " + endpoint() + " does not serve after " + std::to_string(within.count()) +
                         " ms: " + last + "\n" + log());
}

BackgroundProcess::BackgroundProcess(std::vector<std::string> argv, std::string out_path)
    : argv_(std::move(argv)), out_path_(std::move(out_path)) {}

BackgroundProcess::~BackgroundProcess() {
  if (running()) kill9();
}

Status BackgroundProcess::start() {
  if (argv_.empty()) return Status::InvalidArgument("no program to run");
  pid_ = ::fork();
  if (pid_ < 0) return Status::IoError("fork failed");
  if (pid_ == 0) {
    FILE* out = std::fopen(out_path_.c_str(), "a");
    if (out) {
      ::dup2(fileno(out), 1);
      ::dup2(fileno(out), 2);
    }
    std::vector<char*> argv;
    for (auto& a : argv_) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    std::_Exit(127);
  }
  return Status::Ok();
}

void BackgroundProcess::kill9() { kill_and_reap(pid_); }
void BackgroundProcess::pause() { send_signal(pid_, SIGSTOP); }
void BackgroundProcess::resume() { send_signal(pid_, SIGCONT); }
bool BackgroundProcess::running() { return still_running(pid_); }
int BackgroundProcess::wait(int timeout_ms) { return wait_exit(pid_, timeout_ms); }

std::string BackgroundProcess::output() const {
  std::ifstream in(out_path_);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

void TallydProcess::kill9() { kill_and_reap(pid_); }
void TallydProcess::pause() { send_signal(pid_, SIGSTOP); }
void TallydProcess::resume() { send_signal(pid_, SIGCONT); }

int TallydProcess::terminate(int timeout_ms) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  return wait_exit(pid_, timeout_ms);
}

bool TallydProcess::running() { return still_running(pid_); }

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
  for (auto& n : nodes) {
    Status s = n->wait_serving();
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
