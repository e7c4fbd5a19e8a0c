#include "sim/sim_cluster.hpp"

#include <algorithm>

#include "net/codec.hpp"

namespace tally::sim {

SimCluster::SimCluster(SimWorld& world, int nodes, Durability durability,
                       const std::function<void(ClusterConfig&)>& tweak)
    : world_(world), initial_map_(Status::Internal("not computed")) {
  config_.path = "sim";
  config_.name = "sim";
  config_.durability = durability;
  for (int i = 0; i < nodes; ++i) {
    NodeEntry e;
    e.id = "n" + std::to_string(i + 1);
    e.listen = HostPort{"10.0.0." + std::to_string(i + 1), 7400};
    e.data_dir = "/sim/" + e.id;
    e.zone = "z" + std::to_string(i % 3 + 1);
    config_.nodes.push_back(e);
    if (i < 3) config_.voters.push_back(e.id);
  }
  if (tweak) tweak(config_);
  initial_map_ = Node::initial_map(config_);
  for (int i = 0; i < nodes; ++i) {
    hosts_.push_back(&world.add_host(config_.nodes[i].id, config_.nodes[i].listen));
    nodes_.push_back(nullptr);
    // A founder's own config is the cluster's, itself first (listen()).
    ClusterConfig own = config_;
    std::rotate(own.nodes.begin(), own.nodes.begin() + i, own.nodes.begin() + i + 1);
    own_.push_back(std::move(own));
    join_.emplace_back();
    restart(i);
  }
}

int SimCluster::add_joiner(int through) {
  const int i = size();
  NodeEntry e;
  e.id = "n" + std::to_string(i + 1);
  e.listen = HostPort{"10.0.0." + std::to_string(i + 1), 7400};
  e.data_dir = "/sim/" + e.id;
  e.zone = "z" + std::to_string(i % 3 + 1);
  ClusterConfig own = config_;
  own.nodes = {e};
  own.voters.clear();
  own_.push_back(std::move(own));
  join_.push_back(listen(through).to_string());
  hosts_.push_back(&world_.add_host(e.id, e.listen));
  nodes_.push_back(nullptr);
  restart(i);
  return i;
}

SimCluster::~SimCluster() = default;

void SimCluster::crash(int i, CrashKind kind) {
  hosts_[i]->crash(kind);
  nodes_[i].reset();
}

void SimCluster::restart(int i) {
  hosts_[i]->restart();
  if (!join_[i].empty()) {
    nodes_[i] = std::make_unique<Node>(*hosts_[i], own_[i], own_[i].nodes.front(), NodeTimings{}, join_[i]);
  } else {
    nodes_[i] = std::make_unique<Node>(*hosts_[i], config_, config_.nodes[i]);
  }
  if (join_[i].empty() && initial_map_.ok()) nodes_[i]->set_initial_map(*initial_map_);
  Status s = nodes_[i]->start();
  if (!s.ok()) world_.trace("start failed: " + s.to_string());
}

SimClient::SimClient(SimHost& host, HostPort server, uint64_t timeout_us)
    : host_(host), server_(std::move(server)), timeout_us_(timeout_us) {
  // A client host listens nowhere, but must receive its connections' events.
  (void)host_.listen(host_.addr(), this);
}

void SimClient::request(wire::Body body, Done done) {
  if (conn_ == 0) conn_ = host_.connect(server_);
  uint64_t id = next_id_++;
  TimerId timer = host_.set_timer(timeout_us_, [this, id] {
    finish(id, Status::Timeout("no reply in time"));
  });
  pending_[id] = Pending{std::move(done), timer};
  host_.send(conn_, net::encode_payload(wire::Message{id, std::move(body)}));
}

void SimClient::on_frame(ConnId, std::string_view payload) {
  auto msg = net::decode_payload(payload);
  if (!msg.ok()) return;
  uint64_t id = msg->request_id;
  finish(id, std::move(msg));
}

void SimClient::on_closed(ConnId conn, const Status& why) {
  if (conn != conn_) return;
  conn_ = 0;
  // Every request on the connection has an unknown outcome now.
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& [id, p] : pending) {
    host_.cancel_timer(p.timer);
    p.done(Status::Unavailable(why.message()));
  }
}

void SimClient::finish(uint64_t id, Result<wire::Message> result) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;  // a duplicate, or a reply after the timeout
  Pending p = std::move(it->second);
  pending_.erase(it);
  host_.cancel_timer(p.timer);
  p.done(std::move(result));
}

}  // namespace tally::sim
