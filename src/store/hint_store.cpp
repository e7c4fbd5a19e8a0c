#include "store/hint_store.hpp"

#include <memory>

namespace tally::store {

namespace {
constexpr char kHintTag = 'h';

bool parse_hint_key(const std::string& k, Hint& out) {
  if (k.size() < 6 || k[0] != kHintTag) return false;
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(k[i])); };
  out.target = (b(1) << 24) | (b(2) << 16) | (b(3) << 8) | b(4);
  size_t ks_len = b(5);
  if (k.size() < 6 + ks_len) return false;
  out.keyspace = k.substr(6, ks_len);
  out.key = k.substr(6 + ks_len);
  return true;
}
}  // namespace

std::string HintStore::hint_key(uint32_t target, const std::string& keyspace, const std::string& key) {
  std::string k;
  k.reserve(6 + keyspace.size() + key.size());
  k.push_back(kHintTag);
  k.push_back(static_cast<char>(target >> 24));
  k.push_back(static_cast<char>(target >> 16));
  k.push_back(static_cast<char>(target >> 8));
  k.push_back(static_cast<char>(target));
  k.push_back(static_cast<char>(static_cast<uint8_t>(keyspace.size())));
  k += keyspace;
  k += key;
  return k;
}

std::string HintStore::after_target(uint32_t target) {
  // A hint key is the tag, the target (4 bytes, big-endian), the keyspace's
  // length (1 byte), the keyspace and the key. A keyspace name is made of
  // [a-z0-9_-], so every hint for `target` sorts below this key, even one
  // whose keyspace is 255 bytes long (length byte 0xff, then a name byte).
  std::string k = hint_key(target, "", "");
  k.back() = static_cast<char>(0xff);
  k.push_back(static_cast<char>(0xff));
  return k;
}

HintStore::HintStore(RecordStore& records, uint32_t max_hints, MergeFn merge)
    : records_(records), max_hints_(max_hints), merge_(std::move(merge)) {}

void HintStore::load(std::function<void(Status)> done) {
  // Hint keys sort between "h" and "i".
  records_.scan(std::string(1, kHintTag), std::string(1, kHintTag + 1), SIZE_MAX,
                [this, done = std::move(done)](auto r) {
                  if (!r.ok()) return done(r.status());
                  count_ = r->size();
                  done(Status::Ok());
                });
}

void HintStore::add(uint32_t target, const std::string& keyspace, const std::string& key,
                    const quorum::DvvSet& record, std::function<void(Status)> done) {
  auto is_new = std::make_shared<bool>(false);
  records_.update_at(
      hint_key(target, keyspace, key),
      [this, keyspace, record, is_new](const quorum::DvvSet* cur) -> Result<quorum::DvvSet> {
        if (!cur) {
          if (count_ >= max_hints_) {
            ++refused_;
            return Status::TooLarge("hint store full (" + std::to_string(max_hints_) + " hints)");
          }
          *is_new = true;
          ++count_;  // counted now so that a burst cannot overshoot the bound
          return record;
        }
        return merge_(keyspace, *cur, record);
      },
      [this, is_new, done = std::move(done)](Result<RecordStore::Record> r) {
        if (!r.ok() && *is_new) --count_;
        done(r.status());
      });
}

void HintStore::list(const std::string& after_key, size_t limit,
                     std::function<void(Result<std::vector<std::pair<std::string, Hint>>>)> done) {
  std::string start = after_key.empty() ? std::string(1, kHintTag) : after_key + std::string(1, '\0');
  records_.scan(start, std::string(1, kHintTag + 1), limit, [done = std::move(done)](auto r) {
    if (!r.ok()) return done(r.status());
    std::vector<std::pair<std::string, Hint>> out;
    for (auto& [k, rec] : *r) {
      Hint h;
      if (!parse_hint_key(k, h)) continue;
      h.record = std::move(rec);
      out.emplace_back(k, std::move(h));
    }
    done(std::move(out));
  });
}

void HintStore::remove_if_unchanged(const std::string& dkey, const quorum::DvvSet& delivered,
                                    std::function<void(Status)> done) {
  records_.erase_if(
      dkey, [delivered](const quorum::DvvSet* cur) { return cur && *cur == delivered; },
      [this, done = std::move(done)](Result<bool> r) {
        if (r.ok() && *r && count_ > 0) --count_;
        done(r.status());
      });
}

}  // namespace tally::store
