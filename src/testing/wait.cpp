#include "testing/wait.hpp"

#include <memory>
#include <sstream>

#include "testing/cluster_harness.hpp"
#include "tally/client.hpp"

namespace tally::clustertest {

bool peers_field_lists(const std::string& peers, const std::string& entry) {
  std::istringstream words(peers);
  std::string word;
  while (words >> word) {
    if (word == entry) return true;
  }
  return false;
}

Status wait_for_peer_state(const std::vector<std::string>& observers, const std::string& peer, bool up,
                           std::chrono::milliseconds within) {
  const std::string want = peer + (up ? ":up" : ":down");
  std::vector<std::unique_ptr<Client>> clients;
  for (const auto& o : observers) clients.push_back(connect_client(o));
  std::vector<std::string> shown(observers.size());  // each one's last answer
  std::vector<bool> agrees(observers.size(), false);
  auto all_agree = [&] {
    bool all = true;
    for (size_t i = 0; i < clients.size(); ++i) {
      auto st = clients[i]->status();
      shown[i] = st.ok() ? "peers '" + st->field("peers") + "'" : st.status().to_string();
      agrees[i] = st.ok() && peers_field_lists(st->field("peers"), want);
      all = all && agrees[i];
    }
    return all;
  };
  if (eventually(all_agree, within)) return Status::Ok();
  std::string why;
  for (size_t i = 0; i < observers.size(); ++i) {
    if (!agrees[i]) why += "; " + observers[i] + " shows " + shown[i];
  }
  return Status::Timeout("after " + std::to_string(within.count()) + " ms not every node shows " + want + why);
}

}  // namespace tally::clustertest
